"""One group of up to ``capacity`` objects with its own memories (a "sub-engine").

DeAOT holds 10 identities per pass, so the propagator splits the objects into groups of at
most 10 that share the encoder features but keep separate memories and frame counters. A
model trained on fewer objects at once is given smaller groups.
"""

from __future__ import annotations

import torch

from aot.memory import LongTermMemory, ShortTermMemory, layer_memories
from aot.model.deaot import DeAOT, EncodedFrame
from aot.model.propagation import LayerMemory, LayerTokens

#: Logit given to identity channels above a group's object count.
UNUSED_LOGIT = -1e10
#: Merged probabilities are clamped to [PROB_CLAMP, 1 - PROB_CLAMP] before the logit.
PROB_CLAMP = 1e-5


class ObjectGroup:
    """Objects ``first_id .. first_id + capacity - 1`` of a video, as local ids 1..capacity.

    Args:
        model: the network.
        first_id: global id of the group's local id 1.
        capacity: ids the group holds, at most ``model.config.max_objects``.
        long_term_gap: a propagated frame enters long-term memory when at least this many
            frames have passed since the last one that did.
        max_long_term: bound of the long-term memory (``None``: unbounded).
        attention_dtype: precision of attention and of the stored memories (default: that
            of the computed keys and values).
    """

    def __init__(self, model: DeAOT, first_id: int, capacity: int, long_term_gap: int,
                 max_long_term: int | None, attention_dtype: torch.dtype | None = None) -> None:
        if not 1 <= capacity <= model.config.max_objects:
            raise ValueError(f"a group holds 1 to {model.config.max_objects} objects, "
                             f"got {capacity}")
        self.model = model
        self.attention_dtype = attention_dtype
        self.first_id = first_id
        self.capacity = capacity
        self.long_term_gap = long_term_gap
        self.num_objects = 0
        self.frame_step = 0
        self.last_long_term_step = 0
        self.long_term = LongTermMemory(max_long_term)
        self.short_term: ShortTermMemory | None = None

    def local_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Global (h, w) labels -> (1, h, w) local ids of this group (0 elsewhere)."""
        local = labels.long() - (self.first_id - 1)
        inside = (local >= 1) & (local <= self.capacity)
        return torch.where(inside, local, torch.zeros_like(local)).unsqueeze(0)

    def identity_embedding(self, labels: torch.Tensor) -> torch.Tensor:
        """Global (h, w) labels at the network input size -> (1, L, C) identity embedding."""
        return self.model.identity_embedding(self.model.one_hot(self.local_labels(labels)))

    def set_object_count(self, total_objects: int) -> None:
        """Update how many of the group's ids are in use, given the video's object count."""
        self.num_objects = max(0, min(total_objects - self.first_id + 1, self.capacity))

    def add_reference(self, frame: EncodedFrame, labels: torch.Tensor) -> None:
        """Store an annotated frame (labels (h, w) at input size) as a reference."""
        id_emb = self.identity_embedding(labels)
        _, tokens, values = self.model.propagate(frame, id_emb=id_emb,
                                                 attention_dtype=self.attention_dtype)
        assert values is not None
        keys, values = self._stored([t.key for t in tokens], values)
        self.long_term.add(keys, values, self.frame_step, annotated=True)
        self.last_long_term_step = self.frame_step
        self.short_term = ShortTermMemory(keys, values)

    def begin_propagation(self) -> list[LayerMemory]:
        """Advance the frame counter; the per-layer memories the new frame attends to."""
        assert self.short_term is not None, "group has no reference frame"
        self.frame_step += 1
        return layer_memories(self.long_term, self.short_term)

    def cancel_propagation(self) -> None:
        """Undo :meth:`begin_propagation` when the step it began failed."""
        self.frame_step -= 1

    def mask_unused(self, logits: torch.Tensor) -> torch.Tensor:
        """Set the logits of ids above the group's object count to ``UNUSED_LOGIT`` in place.

        Args:
            logits: (1, max_objects + 1, H, W).
        """
        logits[:, self.num_objects + 1:] = UNUSED_LOGIT
        return logits

    def update_memory(self, tokens: list[LayerTokens], labels: torch.Tensor) -> None:
        """Make the last propagated frame, with labels (h, w), the short-term memory and
        add it to the long-term memory if the gap has passed."""
        id_emb = self.identity_embedding(labels)
        keys, values = self._stored(
            [t.key for t in tokens],
            [layer.memory_value(t, id_emb) for layer, t in zip(self.model.LSTT.layers, tokens)])
        self.short_term = ShortTermMemory(keys, values)
        if self.frame_step - self.last_long_term_step >= self.long_term_gap:
            self.long_term.add(keys, values, self.frame_step, annotated=False)
            self.last_long_term_step = self.frame_step

    def _stored(self, keys: list[torch.Tensor], values: list[torch.Tensor]
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Keys and values in the dtype the memories keep."""
        if self.attention_dtype is None:
            return keys, values
        return ([k.to(self.attention_dtype) for k in keys],
                [v.to(self.attention_dtype) for v in values])


def merge_group_logits(logits: list[torch.Tensor]) -> torch.Tensor:
    """Merge K groups' (1 + G, H, W) logits (G ids each) into (1 + GK, H, W) logits over
    global ids.

    One group is returned as is. Several are merged as the official engine does: background
    probability is the product of the groups' background probabilities, the objects keep
    their group's probability, and the clamped result is mapped back to logits.
    """
    if len(logits) == 1:
        return logits[0]
    probs = [group.softmax(dim=0) for group in logits]
    background = torch.stack([p[0] for p in probs]).prod(dim=0, keepdim=True)
    merged = torch.cat([background] + [p[1:] for p in probs], dim=0)
    return torch.logit(merged.clamp(PROB_CLAMP, 1 - PROB_CLAMP))
