"""Propagator behaviour beyond the reference cases: groups, memory bounds, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aot
from aot.preprocess import network_input_size
from helpers import bikes_clip, synthetic_model


@pytest.fixture(scope="module")
def model():
    return synthetic_model("deaott")


@pytest.fixture(scope="module")
def clip():
    return bikes_clip()


def _grid_mask(shape, count: int) -> np.ndarray:
    """``count`` objects as blocks of a grid over the frame."""
    mask = np.zeros(shape, np.uint8)
    rows, cols = 4, -(-count // 4)
    h, w = shape[0] // rows, shape[1] // cols
    for i in range(count):
        r, c = divmod(i, cols)
        mask[r * h:(r + 1) * h - 2, c * w:(c + 1) * w - 2] = i + 1
    return mask


def test_many_objects_are_split_into_groups(model, clip):
    frames, _ = clip
    mask = _grid_mask(frames[0].shape[:2], 23)
    prop = aot.Propagator(model)
    prop.add_reference(frames[0], mask)
    assert len(prop.groups) == 3 and prop.groups[-1].num_objects == 3
    out = prop.step(frames[1])
    assert out.probs.shape == (24,) + frames[1].shape[:2]
    assert torch.allclose(out.probs.sum(0), torch.ones(()), atol=1e-3)
    assert out.labels.dtype == np.uint8 and out.labels.max() <= 23
    assert len(np.unique(out.labels)) > 10  # objects of every group survive one frame


def test_probs_have_one_channel_per_object(model, clip):
    frames, mask = clip
    prop = aot.Propagator(model)
    prop.add_reference(frames[0], mask)
    out = prop.step(frames[1])
    assert out.probs.shape == (3,) + frames[0].shape[:2]
    assert np.array_equal(out.labels, out.probs.argmax(0).numpy())


def test_object_added_on_the_frame_just_stepped(model, clip):
    frames, mask = clip
    prop = aot.Propagator(model, long_term_gap=9999)
    prop.add_reference(frames[0], mask)
    prop.step(frames[1])
    out = prop.step(frames[2])
    merged = out.labels.copy()
    merged[100:130, 20:60] = 3
    prop.add_reference(frames[2], merged)
    memory = prop.groups[0].long_term
    assert [f.frame_index for f in memory.frames] == [0, 2]
    assert all(f.annotated for f in memory.frames)
    assert prop.num_objects == 3
    out = prop.step(frames[3])
    assert out.probs.shape[0] == 4 and (out.labels == 3).sum() > 100


def test_reference_on_a_new_frame_advances_the_sequence(model, clip):
    frames, mask = clip
    prop = aot.Propagator(model)
    prop.add_reference(frames[0], mask)
    prop.step(frames[1])
    prop.add_reference(frames[3], mask)  # a frame that was not stepped
    assert prop.groups[0].frame_step == 2
    assert [f.frame_index for f in prop.groups[0].long_term.frames] == [0, 2]
    assert prop.step(frames[4]).labels.shape == mask.shape


def test_long_term_gap_and_bound(model, clip):
    frames, mask = clip
    prop = aot.Propagator(model, long_term_gap=1, max_long_term=3)
    prop.add_reference(frames[0], mask)
    for frame in frames[1:]:
        prop.step(frame)
    prop.step(frames[-1])
    memory = prop.groups[0].long_term
    assert len(memory) == 3
    indices = sorted(f.frame_index for f in memory.frames)
    assert indices == [0, 6, 7]  # the annotated frame stays, the newest fill the rest


def test_unbounded_memory_grows_with_the_gap(model, clip):
    frames, mask = clip
    prop = aot.Propagator(model, long_term_gap=2)
    prop.add_reference(frames[0], mask)
    for frame in frames[1:] + frames[1:3]:
        prop.step(frame)
    assert [f.frame_index for f in prop.groups[0].long_term.frames] == [0, 2, 4, 6, 8]


def test_annotated_frames_are_never_evicted(model, clip):
    frames, mask = clip
    prop = aot.Propagator(model, long_term_gap=1, max_long_term=2)
    prop.add_reference(frames[0], mask)
    prop.step(frames[1])
    prop.add_reference(frames[1], mask)
    for frame in frames[2:]:
        prop.step(frame)
    frames_kept = prop.groups[0].long_term.frames
    assert [f.frame_index for f in frames_kept if f.annotated] == [0, 1]
    assert len(frames_kept) == 3


def test_reset_forgets_everything(model, clip):
    frames, mask = clip
    prop = aot.Propagator(model)
    prop.add_reference(frames[0], mask)
    prop.reset()
    with pytest.raises(RuntimeError, match="add_reference must be called before step"):
        prop.step(frames[1])


@pytest.mark.parametrize("bad_mask,message", [
    (np.zeros((10, 10), np.uint8), "does not match the frame size"),
    (np.zeros((136, 320), np.float32), "integer object ids"),
    (np.full((136, 320), 300, np.int32), r"ids must lie in 0\.\.255"),
    (np.zeros((136, 320), np.uint8), "holds no object"),
    (np.zeros((136, 320, 3), np.uint8), r"must be an \(H, W\) array"),
])
def test_bad_masks(model, clip, bad_mask, message):
    frames, _ = clip
    with pytest.raises(ValueError, match=message):
        aot.Propagator(model).add_reference(frames[0], bad_mask)


def test_bad_frames(model, clip):
    frames, mask = clip
    prop = aot.Propagator(model)
    with pytest.raises(ValueError, match="uint8"):
        prop.add_reference(frames[0].astype(np.float32), mask)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        prop.add_reference(frames[0][..., 0], mask)
    prop.add_reference(frames[0], mask)
    with pytest.raises(ValueError, match="differs from the video's"):
        prop.step(frames[1][:100])
    assert prop.step(frames[1]).labels.shape == mask.shape  # the session survives


@pytest.mark.parametrize("size,align,expected", [
    ((272, 640), True, (273, 641)), ((144, 176), True, (145, 177)),
    ((720, 1280), True, (577, 1041)), ((480, 854), True, (481, 849)),
    ((272, 640), False, (272, 640)), ((144, 176), False, (144, 176)),
    ((8, 8), True, (17, 17)),
])
def test_network_input_size(size, align, expected):
    assert network_input_size(*size, align) == expected


def test_scaled_input_size_applies_after_the_size_limit():
    """Multi-scale views of a large video stay distinct: the scale multiplies the official
    size, which is already limited to 1040 px."""
    assert network_input_size(720, 1280, True, scale=1.2) == (705, 1249)
    assert network_input_size(1080, 1920, True, scale=1.2) == (705, 1249)
    assert network_input_size(272, 640, True, scale=1.2) == (321, 769)
