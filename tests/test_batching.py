"""Stepping several videos together gives what stepping each alone gives.

Object groups of one video batched together are checked against the official outputs by
the twelve-object reference case (two groups) in test_reference.py."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import aot
from aot.bench.reference_cases import load_case
from helpers import bikes_clip, synthetic_model

FRAMES = 6


@pytest.fixture(scope="module")
def model():
    return synthetic_model("deaott")


def _videos() -> list[tuple[list[np.ndarray], np.ndarray, dict[int, np.ndarray]]]:
    """(frames, first mask, later annotations) of four real videos: two of one size, one of
    them annotated again mid-video (so its memory grows apart), one with twelve objects
    (two object groups) and one of another size."""
    frames, mask = bikes_clip((136, 320))
    frames = frames[:FRAMES]
    reversed_frames = frames[::-1]
    reannotated = {3: np.where(mask > 0, mask, 0).astype(np.uint8)}
    many = np.zeros_like(mask)
    for i in range(12):
        row, col = divmod(i, 6)
        many[row * 60 + 5:row * 60 + 55, col * 50 + 5:col * 50 + 45] = i + 1
    case = load_case("deaots_carphone_1obj")
    other = [cv2.resize(f, (176, 144), interpolation=cv2.INTER_AREA)
             for f in case.arrays["frames"][:FRAMES]]
    other_mask = cv2.resize(case.arrays["mask_0"], (176, 144), interpolation=cv2.INTER_NEAREST)
    return [(frames, mask, {}), (reversed_frames, mask, reannotated), (frames, many, {}),
            (other, other_mask, {})]


def _run(model, videos, together: bool) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    props = [aot.Propagator(model) for _ in videos]
    for prop, (frames, mask, _) in zip(props, videos):
        prop.add_reference(frames[0], mask)
    results: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in videos]
    for t in range(1, FRAMES):
        frames_t = [v[0][t] for v in videos]
        if together:
            outputs = aot.step_together(props, frames_t)
        else:
            outputs = [p.step(f) for p, f in zip(props, frames_t)]
        for i, (prop, output, (_, _, later)) in enumerate(zip(props, outputs, videos)):
            results[i].append((output.labels.copy(), output.probs.numpy()))
            if t in later:
                prop.add_reference(frames_t[i], later[t])
    return results


def test_stepping_together_equals_stepping_alone(model):
    videos = _videos()
    alone = _run(model, videos, together=False)
    together = _run(model, videos, together=True)
    for video_alone, video_together in zip(alone, together):
        for (labels_a, probs_a), (labels_b, probs_b) in zip(video_alone, video_together):
            assert probs_a.shape == probs_b.shape
            assert np.abs(probs_a - probs_b).max() < 1e-4
            assert (labels_a == labels_b).mean() > 0.999


def test_a_bad_frame_changes_no_propagator(model):
    frames, mask = bikes_clip((136, 320))
    props = [aot.Propagator(model) for _ in range(2)]
    reference = aot.Propagator(model)
    for prop in props + [reference]:
        prop.add_reference(frames[0], mask)
    with pytest.raises(ValueError, match="differs from the video"):
        aot.step_together(props, [frames[1], frames[1][:100]])
    expected = reference.step(frames[1]).labels
    for output in aot.step_together(props, [frames[1], frames[1]]):
        assert np.array_equal(output.labels, expected)


def test_propagators_must_share_model_and_precision(model):
    frames, mask = bikes_clip((136, 320))
    other = synthetic_model("deaott", seed=1)
    props = [aot.Propagator(model), aot.Propagator(other), aot.Propagator(model,
                                                                          precision="bf16")]
    for prop in props:
        prop.add_reference(frames[0], mask)
    with pytest.raises(ValueError, match="share one model"):
        aot.step_together(props[:2], [frames[1]] * 2)
    with pytest.raises(ValueError, match="share one model"):
        aot.step_together([props[0], props[2]], [frames[1]] * 2)
    with pytest.raises(ValueError, match="one step at a time"):
        aot.step_together([props[0], props[0]], [frames[1]] * 2)
    with pytest.raises(ValueError, match="2 propagators but 1 frames"):
        aot.step_together(props[:2], [frames[1]])


def test_a_failed_batched_step_can_be_retried_alone(model, monkeypatch):
    """A batch that fails partway (as when a GPU runs out of memory) moves no frame
    counter, so stepping the videos alone afterwards keeps the memory schedule exact."""
    frames, mask = bikes_clip((136, 320))
    props = [aot.Propagator(model, long_term_gap=2) for _ in range(2)]
    reference = aot.Propagator(model, long_term_gap=2)
    for prop in props + [reference]:
        prop.add_reference(frames[0], mask)
    original = model.decode

    def decode_fails_on_batches(output, frame):
        if output.shape[0] > 1:
            raise RuntimeError("out of memory (injected)")
        return original(output, frame)

    expected = [reference.step(frame) for frame in frames[1:5]]
    aot.step_together(props, [frames[1]] * 2)
    monkeypatch.setattr(model, "decode", decode_fails_on_batches)
    with pytest.raises(RuntimeError, match="injected"):
        aot.step_together(props, [frames[2]] * 2)
    outputs = [prop.step(frames[2]) for prop in props]
    monkeypatch.setattr(model, "decode", original)
    outputs = [outputs] + [aot.step_together(props, [frame] * 2) for frame in frames[3:5]]
    for step, wanted in zip(outputs, expected[1:]):
        for output in step:
            assert (output.labels == wanted.labels).mean() > 0.999
    reference.flush()
    stored = [f.frame_index for f in reference.groups[0].long_term.frames]
    assert stored == [0, 2, 4]
    for prop in props:
        prop.flush()
        assert [f.frame_index for f in prop.groups[0].long_term.frames] == stored
