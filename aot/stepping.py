"""Stepping several propagators at once: one encoder batch and one propagation batch for
all their views and object groups.

A step has three phases, which :class:`aot.Propagator` declares and this module drives:
:meth:`~aot.Propagator.check_step` (refuse a bad frame before anything changes),
:meth:`~aot.Propagator.begin_step` (the views' passes, pending memory updates committed) and
:meth:`~aot.Propagator.finish_step` (the passes' network outputs to the frame's labels).
Between the last two, the frames of every pass are encoded together (one batch per input
size) and every object group of every pass propagates in as few batches as their memories'
shapes allow (:func:`aot.batching.propagate_groups`). :meth:`aot.Propagator.step` is this
with one propagator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from aot.batching import GroupRequest, propagate_groups, split_encoded
from aot.model.deaot import EncodedFrame
from aot.preprocess import preprocess_frame

if TYPE_CHECKING:
    from aot.propagator import Propagator, StepOutput


@torch.inference_mode()
def step_together(propagators: Sequence[Propagator], frames: Sequence[np.ndarray]
                  ) -> list[StepOutput]:
    """Step several propagators (one per video) at once: ``propagators[i].step(frames[i])``.

    Frames of the same size are encoded as one batch, and object groups whose memories
    have the same shape propagate as one batch (see :mod:`aot.batching`), which is faster
    on a GPU. The results equal stepping each propagator alone, up to float rounding.

    Args:
        propagators: distinct propagators sharing one model and one precision, each
            started with :meth:`Propagator.add_reference`.
        frames: each propagator's next frame, (H, W, 3) uint8 RGB.

    Raises:
        ValueError: mismatched arguments or a bad frame; no propagator has changed then.
    """
    if len(propagators) != len(frames):
        raise ValueError(f"{len(propagators)} propagators but {len(frames)} frames")
    if len({id(p) for p in propagators}) != len(propagators):
        raise ValueError("a propagator can take only one step at a time")
    if not propagators:
        return []
    model, policy = propagators[0].model, propagators[0].policy
    if any(p.model is not model or p.policy != policy for p in propagators):
        raise ValueError("propagators stepped together must share one model and precision")
    for propagator, frame in zip(propagators, frames):
        propagator.check_step(frame)
    videos = [p.begin_step(frame) for p, frame in zip(propagators, frames)]
    passes = [one for video in videos for one in video]
    encoded = encode_frames([one.view for one in passes], [one.frame for one in passes])
    requests = [GroupRequest(group, frame) for one, frame in zip(passes, encoded)
                for group in one.view.groups]
    with policy.autocast(propagators[0].device):
        results = iter(propagate_groups(model, requests, policy.attention_dtype))
    encodings = iter(encoded)
    outputs = []
    for propagator, video in zip(propagators, videos):
        video_encoded = [next(encodings) for _ in video]
        video_results = [[next(results) for _ in one.view.groups] for one in video]
        outputs.append(propagator.finish_step(video, video_encoded, video_results))
    return outputs


def encode_frames(propagators: Sequence[Propagator], frames: Sequence[np.ndarray]
                  ) -> list[EncodedFrame]:
    """Encode ``frames[i]`` at ``propagators[i]``'s input size, one encoder batch per size.

    Args:
        propagators: propagators sharing one model and precision, each with its input
            size set (by its first frame).
        frames: (H, W, 3) uint8 RGB.
    """
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, propagator in enumerate(propagators):
        by_size.setdefault(propagator.input_size, []).append(i)  # type: ignore[arg-type]
    encoded: list[EncodedFrame | None] = [None] * len(frames)
    first = propagators[0]
    for size, members in by_size.items():
        images = torch.cat([preprocess_frame(frames[i], size) for i in members]).to(first.device)
        with first.policy.autocast(first.device):
            batch = first.model.encode_image(images)
        for i, frame in zip(members, split_encoded(batch) if len(members) > 1 else [batch]):
            encoded[i] = frame
    return encoded  # type: ignore[return-value]
