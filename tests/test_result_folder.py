"""One run per output folder, all or nothing: concurrent runs, kills, SIGTERM, leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DEMO_CLIP, ROOT, box_mask
from tracker.batch import STATUS_FILE
from tracker.cli import main as cli_main
from tracker.masks import encode_png
from tracker.result_folder import FolderBusyError, ResultFolder, remove_interrupted

#: How long a test waits for a run to reach a state, however busy the machine is.
PATIENCE_S = 600


@pytest.fixture(scope="module")
def demo_mask(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mask") / "riders.png"
    path.write_bytes(encode_png(box_mask((272, 640), {1: (400, 60, 500, 250)})))
    return path


def _start_track(out: Path, mask: Path, checkpoint: Path) -> subprocess.Popen:
    """``python -m tracker track`` of the demo clip (60 frames) as its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "tracker", "track", str(DEMO_CLIP), "--out", str(out),
         "--mask", str(mask), "--deaot", str(checkpoint)], cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def _wait_for_masks(process: subprocess.Popen, partial: Path, count: int) -> None:
    """Wait until the run has written ``count`` masks into its partial folder."""
    deadline = time.monotonic() + PATIENCE_S
    while len(list((partial / "masks").glob("*.png"))) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)


def _hidden_leftovers(out: Path) -> list[str]:
    """Hidden files and folders under ``out`` other than the lock files."""
    return sorted(str(p.relative_to(out)) for p in out.rglob(".*")
                  if p.name != STATUS_FILE and not p.name.endswith(".lock"))


def test_a_second_run_on_a_busy_folder_is_refused(tmp_path, demo_mask, deaott_checkpoint,
                                                  caplog):
    """Before: the second run cleared the first's masks, and the first then marked the
    folder complete with a few of its 60 masks."""
    first = _start_track(tmp_path, demo_mask, deaott_checkpoint)
    try:
        _wait_for_masks(first, tmp_path / ".bikes.partial", 2)
        code = cli_main(["track", str(DEMO_CLIP), "--out", str(tmp_path), "--mask",
                         str(demo_mask), "--deaot", str(deaott_checkpoint)])
        assert first.poll() is None  # the first run still has most of its 60 frames to go
    finally:
        _, stderr = first.communicate(timeout=PATIENCE_S)
    assert first.returncode == 0, stderr
    assert code == 1
    assert f"is being written by another run (process {first.pid}" in caplog.text
    status = json.loads((tmp_path / "bikes" / STATUS_FILE).read_text())
    assert status["complete"] and status["frames"] == 60
    assert len(list((tmp_path / "bikes" / "masks").glob("*.png"))) == 60
    assert _hidden_leftovers(tmp_path) == []


def test_a_killed_run_leaves_nothing_after_the_next(tmp_path, demo_mask, deaott_checkpoint):
    """SIGKILL mid-run: its lock dies with it, and the next run removes the half-written
    folder and its temporary files; before, hidden temp files stayed forever."""
    victim = _start_track(tmp_path, demo_mask, deaott_checkpoint)
    _wait_for_masks(victim, tmp_path / ".bikes.partial", 3)
    victim.kill()
    victim.communicate()
    assert not (tmp_path / "bikes").exists()  # nothing half-written looks like a result
    assert _hidden_leftovers(tmp_path)  # the killed run's partial folder
    assert cli_main(["track", str(DEMO_CLIP), "--out", str(tmp_path), "--mask",
                     str(demo_mask), "--deaot", str(deaott_checkpoint)]) == 0
    assert _hidden_leftovers(tmp_path) == []
    assert len(list((tmp_path / "bikes" / "masks").glob("*.png"))) == 60


def test_sigterm_stops_like_ctrl_c_and_keeps_the_previous_result(tmp_path, demo_mask,
                                                                 deaott_checkpoint):
    assert cli_main(["track", str(DEMO_CLIP), "--out", str(tmp_path), "--mask",
                     str(demo_mask), "--deaot", str(deaott_checkpoint)]) == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "bikes").iterdir() if p.is_file()}
    run = subprocess.Popen(
        [sys.executable, "-m", "tracker", "track", str(DEMO_CLIP), "--out", str(tmp_path),
         "--mask", str(demo_mask), "--deaot", str(deaott_checkpoint), "--force"], cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    _wait_for_masks(run, tmp_path / ".bikes.partial", 3)
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=PATIENCE_S)
    assert run.returncode == 130 and "interrupted: finished results are intact" in stderr
    assert _hidden_leftovers(tmp_path) == []
    after = {p.name: p.read_bytes() for p in (tmp_path / "bikes").iterdir() if p.is_file()}
    assert after == before


def test_result_folder_swaps_only_on_commit(tmp_path):
    final = tmp_path / "clip"
    with ResultFolder(final) as folder:
        (folder.begin() / "a.txt").write_text("first")
        folder.commit()
    with pytest.raises(RuntimeError, match="boom"), ResultFolder(final) as folder:
        (folder.begin() / "a.txt").write_text("second")
        raise RuntimeError("boom")
    assert (final / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".clip.lock", "clip"]
    with ResultFolder(final), pytest.raises(FolderBusyError, match=f"process {os.getpid()}"):
        with ResultFolder(final):
            pass


def test_a_swap_cut_short_restores_the_previous_result(tmp_path):
    """A kill between the two renames of a commit leaves the old result as ``.clip.old``:
    the next run puts it back."""
    (tmp_path / ".clip.old").mkdir()
    (tmp_path / ".clip.old" / "a.txt").write_text("old")
    (tmp_path / ".clip.partial").mkdir()
    assert remove_interrupted(tmp_path) == [tmp_path / "clip"]
    assert (tmp_path / "clip" / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".clip.lock", "clip"]
