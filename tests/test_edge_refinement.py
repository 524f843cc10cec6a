"""Edge refinement: the reported masks snap to the frame's edges; the memory is untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import aot
from aot.edge_refinement import EdgeRefinement, box_mean, guided_filter, refine_edges
from helpers import validation_clip
from tracker.models import use_edges


@pytest.fixture(scope="module")
def clip():
    """A validation clip with two objects."""
    return validation_clip(0)


def _ramp_probs(height: int, width: int, centre: float) -> torch.Tensor:
    """(2, H, W) background/object probabilities rising left to right around ``centre``."""
    obj = torch.sigmoid((torch.arange(float(width)) - centre) / 2).expand(height, width)
    return torch.stack([1 - obj, obj])


def test_flat_frame_only_smooths():
    probs = _ramp_probs(12, 20, 9.5)
    guide = torch.tensor([0.4, 0.2, 0.7])[:, None, None].expand(3, 12, 20)
    refined = guided_filter(probs, guide, radius=1, eps=1e-3)
    assert torch.allclose(refined, box_mean(box_mean(probs, 1), 1), atol=1e-6)


def test_probabilities_steepen_across_an_edge_of_the_frame():
    probs = _ramp_probs(12, 20, 9.5)
    guide = torch.zeros(3, 12, 20)
    guide[1, :, 10:] = 0.8  # a green edge, where the object probability crosses 0.5
    refined = guided_filter(probs, guide, radius=1, eps=1e-3)
    assert torch.allclose(refined.sum(dim=0), torch.ones(12, 20), atol=1e-5)
    assert (refined >= 0).all()
    before = probs[1, :, 10] - probs[1, :, 9]
    after = refined[1, :, 10] - refined[1, :, 9]
    assert (after > 1.5 * before).all()


def test_an_absent_object_stays_absent():
    probs = torch.cat([_ramp_probs(12, 20, 9.5), torch.zeros(1, 12, 20)])
    guide = torch.rand(3, 12, 20, generator=torch.Generator().manual_seed(0))
    assert (guided_filter(probs, guide, radius=2, eps=1e-4)[2] == 0).all()


def test_settings_are_checked_and_the_radius_follows_the_frame():
    with pytest.raises(ValueError, match="radius"):
        EdgeRefinement(radius=0)
    with pytest.raises(ValueError, match="eps"):
        EdgeRefinement(eps=0.0)
    assert EdgeRefinement(radius=1).frame_radius((161, 161), (161, 161)) == 1
    assert EdgeRefinement(radius=2).frame_radius((1080, 1920), (577, 1025)) == 4
    assert EdgeRefinement(radius=1).frame_radius((100, 100), (401, 401)) == 1


def _iou(predicted: np.ndarray, truth: np.ndarray, ids: list[int]) -> float:
    return float(np.mean([((predicted == i) & (truth == i)).sum()
                          / max(((predicted == i) | (truth == i)).sum(), 1) for i in ids]))


def test_refined_masks_fit_the_objects_better_and_the_memory_is_unchanged(bundled_model, clip):
    frames, truth = clip
    ids = [int(i) for i in np.unique(truth[0]) if i]
    plain = aot.Propagator(bundled_model, min_object_cells=2)
    settings = EdgeRefinement()
    refined = aot.Propagator(bundled_model, min_object_cells=2, edge_refinement=settings)
    for propagator in (plain, refined):
        propagator.add_reference(frames[0], truth[0])
    gains = []
    for frame, labels in zip(frames[1:], truth[1:]):
        plain_out, refined_out = plain.step(frame), refined.step(frame)
        # The refined propagator reports the guided filter of exactly what the plain one
        # predicts: its memory, which only ever saw the network's labels, has not drifted.
        expected, log_probs = refine_edges(plain_out.probs.log(), frame, settings.radius,
                                           settings.eps)  # 161x161 enters the network as is
        assert (refined_out.labels != expected.numpy()).mean() < 1e-3  # float rounding
        assert np.array_equal(refined_out.labels, refined_out.probs.argmax(dim=0).numpy())
        assert torch.allclose(refined_out.probs, log_probs.exp(), atol=1e-4)
        gains.append(_iou(refined_out.labels, labels, ids) - _iou(plain_out.labels, labels, ids))
    assert np.mean(gains) > 0.01
    assert sum(g > 0 for g in gains) >= 20 and sum(g < 0 for g in gains) <= 2


def test_edges_are_on_by_default_for_the_bundled_model_only():
    assert use_edges("auto", None)  # the bundled model is the default here
    assert use_edges("auto", "clicktrack_deaott")
    assert not use_edges("auto", "r50_deaotl")
    assert use_edges("on", "r50_deaotl") and not use_edges("off", None)
    with pytest.raises(ValueError, match="edges must be one of"):
        use_edges("sometimes", None)


def test_box_mean_matches_a_padded_average():
    x = torch.rand(2, 7, 9, generator=torch.Generator().manual_seed(1))
    padded = F.pad(x[None], (2, 2, 2, 2), mode="replicate")[0]
    expected = torch.stack([padded[:, i:i + 7, j:j + 9] for i in range(5) for j in range(5)])
    assert torch.allclose(box_mean(x, 2), expected.mean(dim=0), atol=1e-6)
