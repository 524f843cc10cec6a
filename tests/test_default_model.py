"""The bundled DeAOT: found with no downloads, small, and it really tracks."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from conftest import DEMO_CLIP, DEMO_PROMPTS, ROOT
from tracker.masks import read_label_png
from tracker.models import default_deaot_name
from tracker.registry import load_registry
from tracker.synthetic_benchmark import HELD_OUT_SEED, run_synthetic_benchmark

BUNDLED = load_registry()["clicktrack_deaott"]


def test_bundled_model_is_the_offline_default(monkeypatch, tmp_path, bundled_model):
    monkeypatch.setenv("CLICKTRACK_CHECKPOINTS", str(tmp_path))  # nothing downloaded
    assert default_deaot_name() == "clicktrack_deaott"
    assert BUNDLED.path.stat().st_size <= 30 * 2**20
    assert bundled_model.config.name == "deaott"


def test_bundled_model_beats_the_static_baseline(tmp_path, bundled_model):
    """Held-out clips (a seed training never used): J&F well above holding frame 0 still."""
    result = run_synthetic_benchmark(bundled_model, tmp_path, clips=4, frames=20,
                                     seed=HELD_OUT_SEED)
    assert result.model.jf >= result.static_baseline.jf + 0.15, (result.model.jf,
                                                                 result.static_baseline.jf)


def test_batch_command_tracks_the_demo_clip_with_it(tmp_path):
    """A fresh machine: DeAOT asked for, no --deaot, no downloads. The log says which model
    ran and how, and the van and the rider stay tracked to the last frame (through the car
    that hides the rider, which the flow-and-colour default loses)."""
    env = {"CLICKTRACK_CHECKPOINTS": str(tmp_path / "empty"), "PATH": "/usr/bin:/bin",
           "OMP_NUM_THREADS": "2"}
    run = subprocess.run([sys.executable, "-m", "tracker", "track", str(DEMO_CLIP), "--out",
                          str(tmp_path / "out"), "--prompts", str(DEMO_PROMPTS), "--sam",
                          "grabcut", "--propagation", "deaot"], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "bundled DeAOT-T, trained on synthetic clips only" in run.stderr
    assert "test-time augmentation (flip on, scales 1.0,1.2)" in run.stderr  # as measured
    masks = tmp_path / "out" / "bikes" / "masks"
    first, last = read_label_png(masks / "00000.png"), read_label_png(masks / "00059.png")
    for object_id in np.unique(first[first > 0]):
        assert (last == object_id).sum() > 0.3 * (first == object_id).sum(), object_id
