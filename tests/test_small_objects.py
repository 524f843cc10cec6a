"""Objects predicted smaller than a few decoder cells are reported, and remembered, absent."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import aot
from aot.small_objects import cell_area, minimum_areas
from conftest import ROOT
from helpers import validation_clip

CELLS = 2.0


@pytest.fixture(scope="module")
def leaving_clip():
    """A validation clip whose object 1 leaves the frame and the plain model leaves specks
    of it behind."""
    return validation_clip(8)


def _track(model, frames, mask, **options) -> list[aot.StepOutput]:
    prop = aot.Propagator(model, **options)
    prop.add_reference(frames[0], mask)
    return [prop.step(frame) for frame in frames[1:]]


def _cleaned(labels: np.ndarray, min_area: float) -> np.ndarray:
    ids, counts = np.unique(labels, return_counts=True)
    small = ids[(ids > 0) & (counts < min_area)]
    return np.where(np.isin(labels, small), 0, labels).astype(np.uint8)


def test_specks_of_an_object_that_left_are_dropped(bundled_model, leaving_clip):
    frames, truth = leaving_clip
    min_area = CELLS * cell_area((161, 161), (161, 161))
    assert min_area == 32
    plain = [out.labels for out in _track(bundled_model, frames, truth[0])]
    cleaned = _track(bundled_model, frames, truth[0], min_object_cells=CELLS)

    def absent_and_unpredicted(predictions) -> int:
        return sum(((t == 1).sum() == 0) and ((p == 1).sum() == 0)
                   for t, p in zip(truth[1:], predictions))

    assert any(0 < (p == 1).sum() < min_area and (t == 1).sum() == 0
               for t, p in zip(truth[1:], plain))  # the plain model leaves specks
    for out in cleaned:
        ids, counts = np.unique(out.labels, return_counts=True)
        assert counts[ids > 0].min(initial=min_area) >= min_area
        assert np.array_equal(out.labels, out.probs.argmax(0).numpy())
        assert torch.allclose(out.probs.sum(0), torch.ones(()), atol=1e-4)
    labels = [out.labels for out in cleaned]
    assert absent_and_unpredicted(labels) > absent_and_unpredicted(plain)


def test_dropped_objects_are_remembered_absent(bundled_model, leaving_clip):
    """The same as tracking plainly and correcting each frame's memory by hand."""
    frames, truth = leaving_clip
    min_area = CELLS * cell_area((161, 161), (161, 161))
    cleaned = [out.labels for out in _track(bundled_model, frames, truth[0],
                                            min_object_cells=CELLS)]
    corrected = aot.Propagator(bundled_model)
    corrected.add_reference(frames[0], truth[0])
    for frame, expected in zip(frames[1:], cleaned):
        by_hand = _cleaned(corrected.step(frame).labels, min_area)
        assert np.array_equal(by_hand, expected)
        corrected.set_pending_labels(by_hand)


def test_objects_annotated_small_are_exempt():
    """Background and objects never annotated as large as the threshold are always kept."""
    reference = np.zeros((161, 161), np.uint8)
    reference[:20, :20], reference[50:55, 50:55] = 1, 3  # 400 and 25 pixels; no id 2
    areas = minimum_areas(torch.from_numpy(reference), 4, 32.0)
    assert areas.tolist() == [0.0, 32.0, 0.0, 0.0]


def test_bad_settings_are_refused(bundled_model):
    with pytest.raises(ValueError, match="min_object_cells"):
        aot.Propagator(bundled_model, min_object_cells=-1)
    run = subprocess.run([sys.executable, "-m", "tracker", "bench-synthetic",
                          "--min-object-cells", "-1"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 2 and "0 or more" in run.stderr
