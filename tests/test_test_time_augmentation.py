"""Test-time augmentation in the propagator (flip and multiple scales), with the bundled DeAOT
on the demo clip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aot
from aot.preprocess import network_input_size
from aot.views import mirrored
from helpers import bikes_clip
from tracker.cli import build_parser
from tracker.models import BUNDLED_SCALES, describe_augmentation, use_scales


@pytest.fixture(scope="module")
def clip():
    return bikes_clip()


def test_first_step_is_the_mean_of_the_frame_and_its_mirror_image(bundled_model, clip):
    frames, mask = clip
    plain, mirror, flipping = (aot.Propagator(bundled_model), aot.Propagator(bundled_model),
                               aot.Propagator(bundled_model, flip=True))
    plain.add_reference(frames[0], mask)
    mirror.add_reference(mirrored(frames[0]), mirrored(mask))
    flipping.add_reference(frames[0], mask)
    one_pass = plain.step(frames[1]).probs
    expected = (one_pass + mirror.step(mirrored(frames[1])).probs.flip(-1)) / 2
    out = flipping.step(frames[1])
    assert torch.allclose(out.probs, expected, atol=1e-4)
    assert np.array_equal(out.labels, expected.argmax(0).numpy())
    assert (one_pass - expected).abs().max() > 0.05  # the mirrored pass does change things


def test_mirrored_video_gives_mirrored_labels(bundled_model, clip):
    """Both passes see the same frames, so tracking the mirrored video swaps their roles:
    every frame's labels come out mirrored, memory updates included."""
    frames, mask = clip
    forward, backward = (aot.Propagator(bundled_model, flip=True),
                         aot.Propagator(bundled_model, flip=True))
    forward.add_reference(frames[0], mask)
    backward.add_reference(mirrored(frames[0]), mirrored(mask))
    plain = aot.Propagator(bundled_model)
    plain.add_reference(frames[0], mask)
    differs = 0
    for frame in frames[1:6]:
        labels = forward.step(frame).labels
        assert (backward.step(mirrored(frame)).labels == labels[:, ::-1]).mean() > 0.999
        differs += (plain.step(frame).labels != labels).sum()
    assert differs > 0


def test_corrections_reach_the_mirrored_pass(bundled_model, clip):
    frames, mask = clip
    prop = aot.Propagator(bundled_model, flip=True, long_term_gap=9999)
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


def test_stepped_together_with_a_plain_propagator(bundled_model, clip):
    frames, mask = clip
    alone = [aot.Propagator(bundled_model, flip=True), aot.Propagator(bundled_model)]
    together = [aot.Propagator(bundled_model, flip=True), aot.Propagator(bundled_model)]
    for prop in alone + together:
        prop.add_reference(frames[0], mask)
    for frame in frames[1:4]:
        expected = [prop.step(frame) for prop in alone]
        outputs = aot.step_together(together, [frame, frame])
        for got, want in zip(outputs, expected):
            assert torch.allclose(got.probs, want.probs, atol=1e-4)


def test_a_scaled_view_runs_at_the_scaled_input_size(bundled_model, clip):
    frames, mask = clip
    height, width = mask.shape
    prop = aot.Propagator(bundled_model, scales=(1.2,))
    prop.add_reference(frames[0], mask)
    assert prop.input_size == network_input_size(round(height * 1.2), round(width * 1.2), True)
    assert prop.input_size == network_input_size(height, width, True, scale=1.2)
    assert prop.input_size[0] > height + 16
    plain = aot.Propagator(bundled_model)
    plain.add_reference(frames[0], mask)
    scaled_labels, plain_labels = prop.step(frames[1]).labels, plain.step(frames[1]).labels
    assert scaled_labels.shape == mask.shape
    assert (scaled_labels != plain_labels).sum() > 0
    assert (scaled_labels == plain_labels).mean() > 0.9


def test_scales_and_flip_average_all_four_views(bundled_model, clip):
    frames, mask = clip
    views = [(aot.Propagator(bundled_model, scales=(scale,)), mirror)
             for scale in (1.0, 1.2) for mirror in (False, True)]
    for view, mirror in views:
        inputs = (mirrored(frames[0]), mirrored(mask)) if mirror else (frames[0], mask)
        view.add_reference(*inputs)
    expected = sum((view.step(mirrored(frames[1])).probs.flip(-1) if mirror
                    else view.step(frames[1]).probs) for view, mirror in views) / 4
    ensemble = aot.Propagator(bundled_model, flip=True, scales=(1.0, 1.2))
    assert ensemble.flip and ensemble.scales == (1.0, 1.2)
    ensemble.add_reference(frames[0], mask)
    out = ensemble.step(frames[1])
    assert torch.allclose(out.probs, expected, atol=1e-4)
    assert np.array_equal(out.labels, expected.argmax(0).numpy())


@pytest.mark.parametrize("scales", [(), (0.0,), (1.0, -1.0), (5.0,)])
def test_bad_scales(bundled_model, scales):
    with pytest.raises(ValueError, match="scales"):
        aot.Propagator(bundled_model, scales=scales)


def test_front_doors_choose_scales_by_model(monkeypatch, tmp_path):
    monkeypatch.setenv("CLICKTRACK_CHECKPOINTS", str(tmp_path))  # nothing downloaded
    assert use_scales("auto", None) == BUNDLED_SCALES  # the bundled model is the default
    assert use_scales("auto", "clicktrack_deaott") == BUNDLED_SCALES
    assert use_scales("auto", "r50_deaotl") == (1.0,)
    assert use_scales("1,1.25", "r50_deaotl") == (1.0, 1.25)
    assert describe_augmentation(True, use_scales("1,1.25", None)) == "flip on, scales 1.0,1.25"
    for bad in ("", "1.0,", "big", "0", "1.0,9"):
        with pytest.raises(ValueError, match="scales must be"):
            use_scales(bad, None)
        with pytest.raises(SystemExit):  # the batch command refuses it before any video
            build_parser().parse_args(["track", "v.mp4", "--out", "o", "--mask", "m.png",
                                       "--scales", bad])
