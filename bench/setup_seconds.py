"""How long `make run`'s set-up takes: a new .venv with the pipeline's packages from requirements.lock, by pip
and by uv, with an empty package cache (everything downloaded) and with a warm one.

    python bench/setup_seconds.py                   # pip and uv, cold then warm: four fresh clones
    python bench/setup_seconds.py --installers uv

Each set-up runs in a fresh clone of this repository with the commands below and a cache folder of its own
(cold: empty; warm: the one the cold set-up just filled), so the machine's own caches are left alone. Needs
PyPI. Writes bench/results/setup_seconds.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INSTALLS = {  # pip: the Makefile before uv; uv: the Makefile now
    "pip": ["{python} -m venv .venv", ".venv/bin/pip install --quiet --upgrade pip",
            ".venv/bin/pip install --quiet -c requirements.lock -e ."],
    "uv": ["{python} -m venv .venv", ".venv/bin/pip install --quiet -c requirements.lock uv",
           ".venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -c requirements.lock -e ."],
}


def set_up(installer: str, cache: Path, folder: Path) -> float:
    clone = folder / f"{installer}-{time.monotonic_ns()}"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    environment = os.environ | {"PIP_CACHE_DIR": str(cache / "pip"), "UV_CACHE_DIR": str(cache / "uv")}
    started = time.perf_counter()
    for command in INSTALLS[installer]:
        subprocess.run(command.format(python=sys._base_executable), shell=True, cwd=clone, env=environment,
                       check=True)  # the interpreter the venv was made from, as `python3 -m venv` in the Makefile
    seconds = time.perf_counter() - started
    subprocess.run(["rm", "-rf", str(clone)], check=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--installers", default="pip,uv")
    arguments = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for installer in arguments.installers.split(","):
            cache = Path(folder) / f"cache-{installer}"
            results[installer] = {state: set_up(installer, cache, Path(folder)) for state in ("cold", "warm")}
            print(f"{installer}: cold {results[installer]['cold']:.0f} s, warm {results[installer]['warm']:.0f} s",
                  flush=True)
    out = REPO / "bench" / "results" / "setup_seconds.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("| installer | empty cache (s) | warm cache (s) |\n|---|---|---|")
    for installer, seconds in results.items():
        print(f"| {installer} | {seconds['cold']:.0f} | {seconds['warm']:.0f} |")


if __name__ == "__main__":
    main()
