"""The wheel: what it holds, what it declares, and that an installed copy finds its data.

CI goes further (``.ci/check_wheel``): a fresh virtual environment, the wheel installed with
its dependencies, and the commands run from outside the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the sources, so no build folder of an earlier build leaks in."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("aot", "tracker", "clicktrack_studio"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source),
                    "-w", str(out)], check=True, capture_output=True, cwd=out)
    (found,) = out.glob("clicktrack-*.whl")
    return found


def test_the_wheel_holds_the_packages_and_their_data_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"aot", "tracker", "clicktrack_studio"}
    assert {"tracker/weights/registry.json", "tracker/weights/clicktrack_deaott_synthetic.pth",
            "clicktrack_studio/example/bikes.mp4", "tracker/cli.py",
            "clicktrack_studio/launch.py", "aot/propagator.py"} <= set(names)
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_the_wheel_declares_the_commands_and_the_pinned_dependencies(wheel):
    archive = zipfile.ZipFile(wheel)
    info = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
    scripts = archive.read(info).decode()
    assert "clicktrack = tracker.cli:main" in scripts
    assert "clicktrack-studio = clicktrack_studio.launch:main" in scripts
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert declared == pinned  # one list of runtime dependencies, in two places
    metadata = archive.read(info.replace("entry_points.txt", "METADATA")).decode()
    assert re.search(r"^Requires-Dist: torch==2\.14\.1$", metadata, re.M)


def test_an_installed_copy_finds_its_bundled_model_and_keeps_downloads_out_of_it(wheel,
                                                                                tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    probe = ("import tracker.registry as r; e = r.load_registry()['clicktrack_deaott']; "
             "print(e.path); print(e.present); print(r.checkpoint_dir())")
    env = {**os.environ, "PYTHONPATH": str(target), "HOME": str(tmp_path / "home")}
    env.pop("CLICKTRACK_CHECKPOINTS", None)
    env.pop("XDG_CACHE_HOME", None)
    lines = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                           text=True, env=env, cwd=tmp_path).stdout.split()
    assert Path(lines[0]).is_relative_to(target) and lines[1] == "True"
    assert Path(lines[2]) == tmp_path / "home" / ".cache" / "clicktrack" / "checkpoints"
    assert subprocess.run([sys.executable, "-c", "import app"], env=env, cwd=tmp_path,
                          capture_output=True).returncode != 0
