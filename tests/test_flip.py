"""Flip test-time augmentation in the propagator, with the bundled DeAOT on the demo clip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aot
from aot.propagator import mirrored
from helpers import bikes_clip
from tracker.registry import load_registry


@pytest.fixture(scope="module")
def model():
    return aot.load_model(load_registry()["clicktrack_deaott"].path)


@pytest.fixture(scope="module")
def clip():
    return bikes_clip()


def test_first_step_is_the_mean_of_the_frame_and_its_mirror_image(model, clip):
    frames, mask = clip
    plain, mirror, flipping = (aot.Propagator(model), aot.Propagator(model),
                               aot.Propagator(model, flip=True))
    plain.add_reference(frames[0], mask)
    mirror.add_reference(mirrored(frames[0]), mirrored(mask))
    flipping.add_reference(frames[0], mask)
    one_pass = plain.step(frames[1]).probs
    expected = (one_pass + mirror.step(mirrored(frames[1])).probs.flip(-1)) / 2
    out = flipping.step(frames[1])
    assert torch.allclose(out.probs, expected, atol=1e-4)
    assert np.array_equal(out.labels, expected.argmax(0).numpy())
    assert (one_pass - expected).abs().max() > 0.05  # the mirrored pass does change things


def test_mirrored_video_gives_mirrored_labels(model, clip):
    """Both passes see the same frames, so tracking the mirrored video swaps their roles:
    every frame's labels come out mirrored, memory updates included."""
    frames, mask = clip
    forward, backward = aot.Propagator(model, flip=True), aot.Propagator(model, flip=True)
    forward.add_reference(frames[0], mask)
    backward.add_reference(mirrored(frames[0]), mirrored(mask))
    plain = aot.Propagator(model)
    plain.add_reference(frames[0], mask)
    differs = 0
    for frame in frames[1:6]:
        labels = forward.step(frame).labels
        assert (backward.step(mirrored(frame)).labels == labels[:, ::-1]).mean() > 0.999
        differs += (plain.step(frame).labels != labels).sum()
    assert differs > 0


def test_corrections_reach_the_mirrored_pass(model, clip):
    frames, mask = clip
    prop = aot.Propagator(model, flip=True, long_term_gap=9999)
    prop.add_reference(frames[0], mask)
    prop.step(frames[1])
    merged = prop.step(frames[2]).labels.copy()
    merged[100:130, 20:60] = 3  # a new object on the frame just returned
    prop.add_reference(frames[2], merged)
    out = prop.step(frames[3])
    assert out.probs.shape[0] == 4 and (out.labels == 3).sum() > 100
    teacher = out.labels.copy()
    teacher[teacher == 3] = 0  # forget it again through the pending update, both passes
    prop.set_pending_labels(teacher)
    for frame in frames[4:6]:
        assert (prop.step(frame).labels == 3).sum() < (out.labels == 3).sum()


def test_stepped_together_with_a_plain_propagator(model, clip):
    frames, mask = clip
    alone = [aot.Propagator(model, flip=True), aot.Propagator(model)]
    together = [aot.Propagator(model, flip=True), aot.Propagator(model)]
    for prop in alone + together:
        prop.add_reference(frames[0], mask)
    for frame in frames[1:4]:
        expected = [prop.step(frame) for prop in alone]
        outputs = aot.step_together(together, [frame, frame])
        for got, want in zip(outputs, expected):
            assert torch.allclose(got.probs, want.probs, atol=1e-4)
