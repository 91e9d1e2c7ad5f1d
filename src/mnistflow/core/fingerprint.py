"""What a run used, hashed by the stage itself: the md5 of every file the pipeline's stages read and wrote.

dvc.lock is no witness for the run in progress: DVC writes a stage's entry only after the stage ends. A file's
md5 here is DVC's own md5 of that file; a folder is listed file by file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

CHUNK = 1 << 20


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def digests(path: Path) -> dict[str, str]:
    """{file: md5} for a file, or for every file under a folder; a missing path maps to "missing"."""
    if path.is_dir():
        return {str(item): file_md5(item) for item in sorted(path.rglob("*")) if item.is_file()}
    return {str(path): file_md5(path) if path.is_file() else "missing"}


def stage_paths(dvc_yaml: Path) -> dict[str, dict[str, list[str]]]:
    """{stage: {"deps": [...], "outs": [...]}} as dvc.yaml declares them (an out may carry options)."""
    if not dvc_yaml.is_file():
        return {}
    stages = (yaml.safe_load(dvc_yaml.read_text()) or {}).get("stages", {})
    return {name: {"deps": [str(item) for item in stage.get("deps", [])],
                   "outs": [_path_of(item) for kind in ("outs", "metrics", "plots") for item in stage.get(kind, [])]}
            for name, stage in stages.items()}


def _path_of(item: Any) -> str:
    return str(next(iter(item))) if isinstance(item, dict) else str(item)


def dvc_managed(dvc_yaml: Path) -> list[str]:
    """The files DVC rewrites during `dvc repro`: dvc.lock and every declared out."""
    outs = [out for stage in stage_paths(dvc_yaml).values() for out in stage["outs"]]
    return [str(dvc_yaml.parent / "dvc.lock"), *(str(dvc_yaml.parent / out) for out in outs)] if outs else []


def provenance(dvc_yaml: Path, with_outs: tuple[str, ...]) -> dict[str, dict[str, dict[str, str]]]:
    """Every stage's deps hashed now, and the outs of the `with_outs` stages (those already written)."""
    root = dvc_yaml.parent
    result: dict[str, dict[str, dict[str, str]]] = {}
    for stage, declared in stage_paths(dvc_yaml).items():
        result[stage] = {"deps": _hashed(root, declared["deps"])}
        if stage in with_outs:
            result[stage]["outs"] = _hashed(root, declared["outs"])
    return result


def _hashed(root: Path, names: list[str]) -> dict[str, str]:
    hashed: dict[str, str] = {}
    for name in names:
        hashed.update({str(Path(path).relative_to(root)): md5 for path, md5 in digests(root / name).items()})
    return hashed
