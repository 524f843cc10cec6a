"""The architecture as the imports show it: the studio (app.py, clicktrack_studio) -> tracker
-> aot, the runtime apart from its tooling, and tracker using only aot's public interface."""

from __future__ import annotations

import ast
from pathlib import Path

import aot

ROOT = Path(__file__).resolve().parents[1]
TOOLING = ("aot.bench", "aot.train")


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, as ``module`` or ``module.name`` for ``from`` imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_runtime_never_imports_its_tooling():
    runtime = [p for p in _files("aot")
               if not any(part in ("bench", "train") for part in p.relative_to(ROOT).parts)]
    assert len(runtime) > 20
    offenders = [(p.name, name) for p in runtime for name in _imports(p)
                 if name.startswith(TOOLING)]
    assert not offenders, offenders


def test_dependencies_point_one_way():
    upward = [(p.name, name) for package in ("aot", "tracker") for p in _files(package)
              for name in _imports(p) if name.split(".")[0] in ("app", "clicktrack_studio")]
    upward += [(p.name, name) for p in _files("aot") for name in _imports(p)
               if name.split(".")[0] == "tracker"]
    assert not upward, upward


def test_tracker_uses_only_what_aot_exports():
    """``from aot import X`` for X in ``aot.__all__``; the one tooling use is the synthetic
    benchmark's clip generator, through the training package's own interface."""
    offenders = []
    for path in _files("tracker"):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] != "aot" or name == "aot":
                continue
            if len(parts) == 2 and parts[1] in aot.__all__:
                continue
            if name == "aot.train.SyntheticClips" and path.name == "synthetic_benchmark.py":
                continue
            offenders.append((path.name, name))
    assert not offenders, offenders
