"""Running several object groups' propagation as one batch.

Object groups, of one video (more than ``max_objects`` objects) or of several videos of the
same size, attend to memories of their own but run the same network. Groups whose frames
have the same token grid and whose long-term memories hold the same number of tokens are
stacked along the batch dimension, so the LSTT and the decoder run once for all of them.
The mathematics is that of running them one by one; only float rounding differs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import torch

from aot.model.deaot import DeAOT, EncodedFrame
from aot.model.propagation import LayerMemory, LayerTokens
from aot.object_group import ObjectGroup


@dataclass(frozen=True)
class GroupRequest:
    """One object group to propagate to one encoded frame (batch size 1)."""

    group: ObjectGroup
    frame: EncodedFrame


def split_encoded(frames: EncodedFrame) -> list[EncodedFrame]:
    """A batch of B encoded frames -> B encoded frames of batch size 1 (views)."""
    return [EncodedFrame(tuple(s[i:i + 1] for s in frames.shortcuts),  # type: ignore[arg-type]
                         frames.tokens[i:i + 1], frames.size)
            for i in range(frames.tokens.shape[0])]


def _stack_encoded(frames: list[EncodedFrame]) -> EncodedFrame:
    if len(frames) == 1:
        return frames[0]
    shortcuts = tuple(torch.cat([f.shortcuts[i] for f in frames]).contiguous(
        memory_format=torch.channels_last) for i in range(3))
    return EncodedFrame(shortcuts, torch.cat([f.tokens for f in frames]),  # type: ignore[arg-type]
                        frames[0].size)


def _stack_memories(memories: list[list[LayerMemory]]) -> list[LayerMemory]:
    if len(memories) == 1:
        return memories[0]
    return [LayerMemory(*(torch.cat([getattr(m[layer], field) for m in memories])
                          for field in ("long_key", "long_value", "short_key", "short_value")))
            for layer in range(len(memories[0]))]


def _split_tokens(tokens: list[LayerTokens], index: int) -> list[LayerTokens]:
    def take(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t[index:index + 1]
    return [LayerTokens(take(t.key), take(t.value), take(t.identity_input))  # type: ignore[arg-type]
            for t in tokens]


def propagate_groups(model: DeAOT, requests: list[GroupRequest],
                     attention_dtype: torch.dtype | None = None
                     ) -> list[tuple[torch.Tensor, list[LayerTokens]]]:
    """Propagate every request, batching those whose shapes allow it.

    Each group's frame counter advances (see :meth:`ObjectGroup.begin_propagation`); if
    the call raises, no counter has moved.

    Returns:
        per request, in order: (1, max_objects + 1, H/4, W/4) logits with the group's unused
        ids masked, and the per-layer tokens its memory update needs.
    """
    memories = [r.group.begin_propagation() for r in requests]
    try:
        return _propagate_buckets(model, requests, memories, attention_dtype)
    except BaseException:
        for request in requests:  # leave every group as it was, so the step can be retried
            request.group.cancel_propagation()
        raise


def _propagate_buckets(model: DeAOT, requests: list[GroupRequest],
                       memories: list[list[LayerMemory]], attention_dtype: torch.dtype | None
                       ) -> list[tuple[torch.Tensor, list[LayerTokens]]]:
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for i, (request, memory) in enumerate(zip(requests, memories)):
        buckets[(request.frame.size, memory[0].long_key.shape[1])].append(i)
    results: list[tuple[torch.Tensor, list[LayerTokens]] | None] = [None] * len(requests)
    for members in buckets.values():
        frame = _stack_encoded([requests[i].frame for i in members])
        output, tokens, _ = model.propagate(frame, memories=_stack_memories(
            [memories[i] for i in members]), attention_dtype=attention_dtype)
        logits = model.decode(output, frame)
        for position, i in enumerate(members):
            group_tokens = tokens if len(members) == 1 else _split_tokens(tokens, position)
            results[i] = (requests[i].group.mask_unused(logits[position:position + 1]),
                          group_tokens)
    return results  # type: ignore[return-value]
