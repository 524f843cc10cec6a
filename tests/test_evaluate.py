"""J and F against values computed by hand, folder checks, and the eval command."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, box_mask
from tracker.evaluate import EvaluationError, evaluate_folders, score_video
from tracker.masks import MaskStore

SHAPE = (100, 100)  # boundary tolerance: ceil(0.008 * 141.4) = 2 px


def test_j_and_f_by_hand():
    truth = box_mask(SHAPE, {1: (20, 20, 40, 40), 2: (60, 60, 80, 70)})
    shifted = box_mask(SHAPE, {1: (21, 20, 41, 40), 2: (60, 60, 80, 70)})  # 1 px right
    wrong = box_mask(SHAPE, {1: (20, 20, 40, 40)})                        # object 2 lost
    score = score_video("v", [shifted, wrong], [truth, truth], skip_first_and_last=False)
    # object 1: IoU 19*20 / (21*20) = 0.9048, then 1; boundary within 2 px: F = 1, 1
    assert score.j[1] == pytest.approx((380 / 420 + 1) / 2)
    assert score.f[1] == pytest.approx(1.0)
    # object 2: perfect, then missing (J = 0, F = 0)
    assert score.j[2] == pytest.approx(0.5) and score.f[2] == pytest.approx(0.5)
    far = box_mask(SHAPE, {1: (60, 20, 80, 40)})  # 40 px away: no overlap, no boundary match
    score = score_video("v", [far], [box_mask(SHAPE, {1: (20, 20, 40, 40)})],
                        skip_first_and_last=False)
    assert score.j[1] == 0 and score.f[1] == 0


def test_first_and_last_frames_are_not_scored():
    truth = box_mask(SHAPE, {1: (20, 20, 40, 40)})
    empty = np.zeros(SHAPE, np.uint8)
    score = score_video("v", [empty, truth, empty], [truth, truth, truth])
    assert score.j[1] == 1 and score.f[1] == 1


def _write(root, video, masks):
    store = MaskStore(root / video)
    for index, mask in enumerate(masks):
        store.write(index, mask)


def test_folders_and_command(tmp_path):
    truth = [box_mask(SHAPE, {1: (10 + i, 10, 30 + i, 30)}) for i in range(4)]
    _write(tmp_path / "gt", "a", truth)
    _write(tmp_path / "gt", "b", truth)
    _write(tmp_path / "pred", "a", truth)
    _write(tmp_path / "pred", "b", [truth[0]] * 4)  # a static prediction
    report = evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    assert [v.name for v in report.videos] == ["a", "b"]
    assert report.videos[0].jf == 1.0 and report.videos[1].jf < 1.0
    assert report.jf == pytest.approx((1.0 + report.videos[1].jf) / 2)
    run = subprocess.run([sys.executable, "-m", "tracker", "eval", str(tmp_path / "pred"),
                          str(tmp_path / "gt")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0 and "overall" in run.stdout
    (tmp_path / "pred" / "b" / "00002.png").unlink()
    with pytest.raises(EvaluationError, match="b: 1 masks missing"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt")
