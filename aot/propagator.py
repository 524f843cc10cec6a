"""Frame-by-frame mask propagation through a video (the official evaluation protocol).

Usage::

    prop = Propagator(model)
    prop.add_reference(frame0, mask0)        # starts tracking
    for frame in frames:
        out = prop.step(frame)               # out.labels (H, W) uint8, out.probs (N+1, H, W)

Test-time augmentation, as the official evaluation offers it: with ``flip=True`` the
propagator also tracks the mirrored video, and with ``scales=(1.0, 1.2)`` it also tracks the
video at 1.2 times the network input size. Every view (each scale, mirrored or not) keeps
its own memories; their softmax outputs are averaged, and the fused labels go into every
view's memory. Each view costs one more pass of the network. With ``min_object_cells``
objects predicted smaller than the decoder resolves are reported and remembered as absent
(see :mod:`aot.small_objects`). With ``edge_refinement`` the reported probabilities are
snapped to the frame's edges, while the memory keeps the network's labels (see
:mod:`aot.edge_refinement`).

``step`` keeps the memory update of its frame pending until the next call, so that
``add_reference`` on the frame just returned can replace it with corrected labels (for
example the prediction merged with a new object), as the official engine does for objects
that appear after the first frame.

Object ids may be any of 1..255: each object gets DeAOT's next identity slot when it first
appears (see :mod:`aot.object_slots`), and the outputs hold the ids as given.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from aot.edge_refinement import refine_edges
from aot.model.deaot import DeAOT, EncodedFrame
from aot.model.propagation import LayerTokens
from aot.object_group import ObjectGroup, merge_group_logits
from aot.object_slots import MAX_OBJECT_ID, ObjectSlots, check_labels
from aot.precision import resolve_precision
from aot.propagator_config import PropagatorConfig
from aot.preprocess import check_frame, network_input_size, resize_labels
from aot.small_objects import cell_area, drop_small_objects, minimum_areas
from aot.stepping import encode_frames, step_together
from aot.views import fuse_views, mirrored

logger = logging.getLogger(__name__)


class StepOutput:
    """Prediction for one frame.

    On CUDA the label map is copied to pinned host memory asynchronously: :attr:`labels`
    waits for that copy only when read, so reading frame t's labels after starting frame
    t + 1 overlaps the copy with the next frame's work.

    Attributes:
        object_ids: the N objects' ids, in the order of the channels of :attr:`probs`.
    """

    def __init__(self, labels: torch.Tensor, logits: torch.Tensor,
                 object_ids: tuple[int, ...]) -> None:
        self.object_ids = object_ids
        self._logits = logits
        self._ready: torch.cuda.Event | None = None
        if labels.is_cuda:
            self._host = torch.empty(labels.shape, dtype=torch.uint8, pin_memory=True)
            self._host.copy_(labels, non_blocking=True)
            self._ready = torch.cuda.Event()
            self._ready.record()
        else:
            self._host = labels.to(torch.uint8)

    @property
    def labels(self) -> np.ndarray:
        """(H, W) uint8 object ids, 0 = background."""
        if self._ready is not None:
            self._ready.synchronize()
            self._ready = None
        return self._host.numpy()

    @property
    def num_objects(self) -> int:
        """N, the number of objects tracked."""
        return len(self.object_ids)

    @property
    def probs(self) -> torch.Tensor:
        """(N + 1, H, W) float32 softmax over the background and the objects, channel i
        being object ``object_ids[i - 1]`` (computed on access)."""
        return torch.softmax(self._logits, dim=0)[: self.num_objects + 1]


@dataclass(frozen=True)
class ViewPass:
    """One view's part of a step: the propagator that tracks the view, the frame as that
    view sees it ((H, W, 3) uint8 RGB), and whether it is the mirrored one."""

    view: Propagator
    frame: np.ndarray
    mirrored: bool


@dataclass
class _PendingUpdate:
    """A propagated frame whose memory update waits for the next call."""

    frame: np.ndarray
    encoded: EncodedFrame
    tokens: list[list[LayerTokens]]
    labels: torch.Tensor


class Propagator:
    """Propagates object masks through a video with a DeAOT model.

    Args:
        model: a DeAOT network (see :func:`aot.load_model`), in eval mode.
        config: how to track (see :class:`aot.PropagatorConfig`); default: the official
            evaluation's settings.
        **options: fields of :class:`aot.PropagatorConfig` given one by one
            (``Propagator(model, flip=True)``), which replace those of ``config``.
    """

    def __init__(self, model: DeAOT, config: PropagatorConfig | None = None,
                 **options: Any) -> None:
        config = replace(config or PropagatorConfig(), **options)
        group_size = config.group_size or model.config.max_objects
        if group_size > model.config.max_objects:
            raise ValueError(f"group_size must be 1 to {model.config.max_objects}, "
                             f"got {group_size}")
        self.model = model
        self.config = config
        self.group_size = group_size
        self.long_term_gap = config.long_term_gap or model.config.long_term_gap
        self.device = next(model.parameters()).device
        self.policy = resolve_precision(config.precision, self.device)
        self.precision = self.policy.name
        self._views = [(Propagator(model, config.single_view(scale)), mirror)
                       for scale, mirror in config.views[1:]]
        self.reset()

    def reset(self) -> None:
        """Forget all objects and memories."""
        self.groups: list[ObjectGroup] = []
        self.slots = ObjectSlots()
        self.frame_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None
        self._pending: _PendingUpdate | None = None
        self._min_areas: torch.Tensor | None = None  # (MAX_OBJECT_ID + 1,) per slot, pixels
        for view, _ in self._views:
            view.reset()

    @torch.inference_mode()
    def add_reference(self, frame: np.ndarray, mask: np.ndarray) -> None:
        """Give the complete labels of a frame.

        The first call starts tracking. A later call on the frame just returned by
        :meth:`step` replaces that frame's pending memory update; on any other frame it
        first commits the pending update and treats ``frame`` as the next frame.

        Args:
            frame: (H, W, 3) uint8 RGB.
            mask: (H, W) integer labels, 0 = background, objects any ids in 1..255.
        """
        check_frame(frame)
        ids = check_labels(mask, frame.shape[:2])
        same_frame = self._pending is not None and np.array_equal(self._pending.frame, frame)
        if same_frame:
            encoded = self._pending.encoded
            self._pending = None
        else:
            self._commit_pending()
            encoded = self._encode(frame)
            for group in self.groups:
                group.frame_step += 1
        self.slots.register(ids)  # once the frame is known to fit
        labels = self.slots.to_slots(ids)
        if not self.slots:
            raise ValueError("the mask holds no object (all pixels are 0)")
        self._set_object_count(self.num_objects)
        if self.config.min_object_cells > 0:
            self._remember_minimum_areas(labels)
        input_labels = resize_labels(labels.to(self.device), self.input_size)
        with self.policy.autocast(self.device):
            for group in self.groups:
                group.add_reference(encoded, input_labels)
        for view, _, (view_frame, view_mask) in self._views_of(frame, labels.numpy()):
            view.add_reference(view_frame, view_mask)  # slots, which a view maps to themselves

    @property
    def num_objects(self) -> int:
        """N, the number of objects tracked (each has an identity slot)."""
        return len(self.slots)

    @property
    def scales(self) -> tuple[float, ...]:
        """The network input scales tracked, this propagator's own first."""
        return self.config.scales

    @property
    def flip(self) -> bool:
        """Whether the mirrored video is tracked too (flip test-time augmentation)."""
        return any(mirror for _, mirror in self._views)

    def step(self, frame: np.ndarray) -> StepOutput:
        """Predict the labels of the next frame ((H, W, 3) uint8 RGB)."""
        return step_together([self], [frame])[0]

    def _views_of(self, *arrays: np.ndarray
                  ) -> list[tuple[Propagator, bool, tuple[np.ndarray, ...]]]:
        """(view, mirrored?, ``arrays`` as that view sees them) of each extra view; the
        mirror images are made once and shared by the mirrored views of every scale."""
        flipped = tuple(mirrored(array) for array in arrays) if self.flip else arrays
        return [(view, mirror, flipped if mirror else arrays) for view, mirror in self._views]

    def check_step(self, frame: np.ndarray) -> None:
        """Raise before anything changes if ``frame`` ((H, W, 3) uint8 RGB) cannot be the
        next frame (the first phase of a step, see :mod:`aot.stepping`)."""
        if not self.groups:
            raise RuntimeError("add_reference must be called before step")
        check_frame(frame)
        self._check_frame_size(frame.shape[:2])

    def begin_step(self, frame: np.ndarray) -> list[ViewPass]:
        """Start a step on a checked frame: commit every view's pending memory update and
        return the passes the step needs, this propagator's own first. Next, each pass's
        frame is encoded and its groups propagated; then :meth:`finish_step`."""
        passes = [ViewPass(self, frame, False)] + [
            ViewPass(view, view_frame, mirror)
            for view, mirror, (view_frame,) in self._views_of(frame)]
        for one in passes:
            one.view._commit_pending()
        return passes

    def finish_step(self, passes: list[ViewPass], encoded: list[EncodedFrame],
                    results: list[list[tuple[torch.Tensor, list[LayerTokens]]]]
                    ) -> StepOutput:
        """End a step: fuse the passes' outputs into the frame's labels, drop specks, hold
        each view's memory update until the next call, and refine the edges.

        Args:
            passes: those :meth:`begin_step` returned.
            encoded: each pass's encoded frame.
            results: per pass, per group of its view: (1, max_objects + 1, h, w) logits and
                the layers' tokens (see :func:`aot.batching.propagate_groups`).
        """
        logits = [one.view._merge_groups(result) for one, result in zip(passes, results)]
        fused = logits[0] if len(logits) == 1 else fuse_views(
            logits, [one.mirrored for one in passes])
        labels = fused.permute(1, 2, 0).contiguous().argmax(dim=-1).to(torch.uint8)
        if self._min_areas is not None:
            labels, fused = drop_small_objects(labels, fused, self._min_areas)
        flipped = labels.flip(-1) if self.flip else labels
        for one, frame, result in zip(passes, encoded, results):
            one.view._keep_pending(one.frame, frame, result,
                                   flipped if one.mirrored else labels)
        refinement = self.config.edge_refinement
        if refinement is not None:
            radius = refinement.frame_radius(self.frame_size, self.input_size)
            labels, fused = refine_edges(fused, passes[0].frame, radius, refinement.eps)
        return StepOutput(self.slots.to_ids(labels), fused, self.slots.object_ids)

    def _merge_groups(self, results: list[tuple[torch.Tensor, list[LayerTokens]]]
                      ) -> torch.Tensor:
        """The groups' (1, max_objects + 1, h, w) logits -> (C, H, W) frame logits."""
        group_logits = []
        for logits, _ in results:  # channels of unused ids would get probability 0
            logits = logits[:, : (self.num_objects if len(self.groups) == 1
                                  else self.group_size) + 1]
            group_logits.append(self.model.upsample_logits(logits.float().contiguous(),
                                                           self.frame_size)[0])
        return merge_group_logits(group_logits)

    def _keep_pending(self, frame: np.ndarray, encoded: EncodedFrame,
                      results: list[tuple[torch.Tensor, list[LayerTokens]]],
                      labels: torch.Tensor) -> None:
        """Hold the frame's memory update, with (H, W) ``labels``, until the next call."""
        self._pending = _PendingUpdate(frame, encoded, [tokens for _, tokens in results],
                                       resize_labels(labels, self.input_size))

    def set_pending_labels(self, labels: np.ndarray) -> None:
        """Remember the frame just returned by :meth:`step` with ``labels`` ((H, W) ids)
        instead of its prediction, without making it a reference (teacher forcing)."""
        if self._pending is None:
            raise RuntimeError("no stepped frame is waiting for its memory update")
        mask = self.slots.to_slots(check_labels(labels, self.frame_size))
        self._pending.labels = resize_labels(mask.to(self.device), self.input_size)
        for view, _, (view_labels,) in self._views_of(mask.numpy()):
            view.set_pending_labels(view_labels)

    @torch.inference_mode()
    def flush(self) -> None:
        """Apply the pending memory update of the last stepped frame now."""
        self._commit_pending()
        for view, _ in self._views:
            view.flush()

    def _commit_pending(self) -> None:
        if self._pending is None:
            return
        with self.policy.autocast(self.device):
            for group, tokens in zip(self.groups, self._pending.tokens):
                group.update_memory(tokens, self._pending.labels)
        self._pending = None

    def _remember_minimum_areas(self, labels: torch.Tensor) -> None:
        """Fold a reference's (H, W) labels into the per-id minimum areas, once per
        reference rather than per frame."""
        min_area = self.config.min_object_cells * cell_area(self.frame_size, self.input_size)
        areas = minimum_areas(labels, MAX_OBJECT_ID + 1, min_area).to(self.device)
        self._min_areas = areas if self._min_areas is None else self._min_areas.maximum(areas)

    def _check_frame_size(self, size: tuple[int, int]) -> None:
        if self.frame_size is not None and size != self.frame_size:
            raise ValueError(f"frame size {size[1]}x{size[0]} differs from the video's "
                             f"{self.frame_size[1]}x{self.frame_size[0]}")

    def _encode(self, frame: np.ndarray) -> EncodedFrame:
        size = frame.shape[:2]
        self._check_frame_size(size)
        if self.frame_size is None:
            self.frame_size = size
            self.input_size = network_input_size(*size, self.model.config.align_corners,
                                                 self.config.scales[0])
        return encode_frames([self], [frame])[0]

    def _set_object_count(self, total: int) -> None:
        needed = max(math.ceil(total / self.group_size), 1)
        while len(self.groups) < needed:
            first_id = len(self.groups) * self.group_size + 1
            self.groups.append(ObjectGroup(self.model, first_id, self.group_size,
                                           self.long_term_gap, self.config.max_long_term,
                                           self.policy.attention_dtype))
        for group in self.groups:
            group.set_object_count(total)
