"""The small core every layer uses: params, paths, errors, atomic writes, archives, processes, the runtime."""
