"""Long-term and short-term memories of one object group.

Memories hold, for every LSTT layer, the keys (B, L, Ck) and the joint visual + identity
values (B, L, 4C) of stored frames. Attention does not depend on the order of memory
frames, so the long-term memory keeps its frames in fixed slots of a preallocated buffer:
adding a frame writes one slot, evicting one overwrites it, and the attended keys are always
a contiguous prefix. Nothing is concatenated per frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from aot.model.propagation import LayerMemory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemoryFrame:
    """Bookkeeping of one long-term memory slot."""

    frame_index: int
    annotated: bool


class LongTermMemory:
    """Reference frames plus every gap-th propagated frame, optionally bounded.

    Args:
        max_frames: bound on the number of frames, or ``None`` for no bound (official).
            When full, the oldest frame that the user did not annotate is evicted.
            Annotated frames are never evicted; if only annotated frames remain, the memory
            grows past the bound.
    """

    def __init__(self, max_frames: int | None = None) -> None:
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_long_term must be at least 1, got {max_frames}")
        self.max_frames = max_frames
        self.frames: list[MemoryFrame] = []
        self._keys: list[torch.Tensor] = []
        self._values: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.frames)

    def add(self, keys: list[torch.Tensor], values: list[torch.Tensor], frame_index: int,
            annotated: bool) -> None:
        """Store one frame: per layer, keys (B, L, Ck) and values (B, L, 4C)."""
        slot = self._free_slot()
        if slot == len(self.frames):
            self.frames.append(MemoryFrame(frame_index, annotated))
        else:
            self.frames[slot] = MemoryFrame(frame_index, annotated)
        if not self._keys:
            self._allocate(keys, values, capacity=min(self.max_frames or 4, 4))
        elif slot >= self._keys[0].shape[1]:
            capacity = 2 * self._keys[0].shape[1]
            if self.max_frames is not None:
                capacity = max(min(capacity, self.max_frames), slot + 1)
            self._allocate(keys, values, capacity)
        for layer, (key, value) in enumerate(zip(keys, values)):
            self._keys[layer][:, slot].copy_(key)
            self._values[layer][:, slot].copy_(value)

    def layer_views(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer, the (B, n * L, Ck) keys and (B, n * L, 4C) values of all n frames."""
        n = len(self.frames)
        return [(k[:, :n].flatten(1, 2), v[:, :n].flatten(1, 2))
                for k, v in zip(self._keys, self._values)]

    def _free_slot(self) -> int:
        if self.max_frames is None or len(self.frames) < self.max_frames:
            return len(self.frames)
        candidates = [i for i, f in enumerate(self.frames) if not f.annotated]
        if not candidates:
            logger.warning("long-term memory holds %d annotated frames, above its bound of %d",
                           len(self.frames) + 1, self.max_frames)
            return len(self.frames)
        return min(candidates, key=lambda i: self.frames[i].frame_index)

    def _allocate(self, keys: list[torch.Tensor], values: list[torch.Tensor],
                  capacity: int) -> None:
        n = len(self.frames) - 1
        new_keys, new_values = [], []
        for layer, (key, value) in enumerate(zip(keys, values)):
            k = key.new_empty((key.shape[0], capacity) + tuple(key.shape[1:]))
            v = value.new_empty((value.shape[0], capacity) + tuple(value.shape[1:]))
            if self._keys and n > 0:
                k[:, :n].copy_(self._keys[layer][:, :n])
                v[:, :n].copy_(self._values[layer][:, :n])
            new_keys.append(k)
            new_values.append(v)
        self._keys, self._values = new_keys, new_values


@dataclass
class ShortTermMemory:
    """The previous frame's per-layer keys (B, L, Ck) and values (B, L, 4C)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]


def layer_memories(long_term: LongTermMemory, short_term: ShortTermMemory) -> list[LayerMemory]:
    """Combine both memories into what each LSTT layer attends to."""
    return [LayerMemory(lk, lv, sk, sv) for (lk, lv), sk, sv
            in zip(long_term.layer_views(), short_term.keys, short_term.values)]
