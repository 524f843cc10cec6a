"""The training forward pass: a batch of short clips through DeAOT, as the official engine
trains it.

Frame 0 is the reference (its ground-truth identities enter the memory); every later frame
is propagated from the long-term memory (the reference, plus every ``long_term_gap``-th
frame) and the short-term memory (the previous frame), decoded, and compared with its
ground truth. The previous frame enters the memory with its ground-truth identities, or,
in the sequential phase, with the model's own (detached) prediction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aot.model.deaot import DeAOT, EncodedFrame
from aot.model.propagation import LayerMemory
from aot.train.loss import segmentation_loss

#: Logit of identity channels above a clip's object count (finite, so that bf16 and fp16
#: autocast stay finite).
UNUSED_LOGIT = -1e4


def clip_loss(model: DeAOT, frames: torch.Tensor, labels: torch.Tensor,
              num_objects: torch.Tensor, step: int, hard_mining_steps: int,
              use_predictions: bool = False, long_term_gap: int | None = None
              ) -> torch.Tensor:
    """Mean loss over the propagated frames of a batch of clips.

    Args:
        model: the network, in training mode.
        frames: (B, T, 3, H, W) normalised network inputs (H, W of the variant's form).
        labels: (B, T, H, W) int64 object ids 0..num_objects.
        num_objects: (B,) objects per clip (at most ``model.config.max_objects``).
        step: the training step (for the bootstrapping schedule).
        hard_mining_steps: steps over which the bootstrapping anneals.
        use_predictions: feed predictions instead of ground truth to the memory.
        long_term_gap: frames between long-term memory additions (default: the variant's).

    Returns:
        a scalar loss.
    """
    b, t = frames.shape[:2]
    gap = long_term_gap or model.config.long_term_gap
    encoded = model.encode_image(frames.flatten(0, 1))
    per_frame = [_select(encoded, b, t, i) for i in range(t)]
    channels = torch.arange(model.config.max_objects + 1, device=labels.device)
    unused = channels.view(1, -1, 1, 1) > num_objects.view(-1, 1, 1, 1)

    id_emb = model.identity_embedding(model.one_hot(labels[:, 0]))
    _, tokens, values = model.propagate(per_frame[0], id_emb=id_emb)
    long_keys = [[tok.key] for tok in tokens]
    long_values = [[v] for v in values]
    short = ([tok.key for tok in tokens], list(values))
    last_long_term = 0
    losses = []
    for i in range(1, t):
        memories = [LayerMemory(torch.cat(long_keys[n], 1), torch.cat(long_values[n], 1),
                                short[0][n], short[1][n]) for n in range(len(tokens))]
        output, tokens, _ = model.propagate(per_frame[i], memories=memories)
        logits = model.decode(output, per_frame[i]).masked_fill(unused, UNUSED_LOGIT)
        logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear",
                               align_corners=model.config.align_corners)
        losses.append(segmentation_loss(logits, labels[:, i], step, hard_mining_steps))
        if i == t - 1:
            break
        fed = logits.argmax(dim=1).detach() if use_predictions else labels[:, i]
        id_emb = model.identity_embedding(model.one_hot(fed))
        keys = [tok.key for tok in tokens]
        values = [layer.memory_value(tok, id_emb) for layer, tok in zip(model.LSTT.layers, tokens)]
        short = (keys, values)
        if i - last_long_term >= gap:
            for n in range(len(tokens)):
                long_keys[n].append(keys[n])
                long_values[n].append(values[n])
            last_long_term = i
    return torch.stack(losses).mean()


def _select(encoded: EncodedFrame, b: int, t: int, index: int) -> EncodedFrame:
    """Frame ``index`` of every clip from features encoded for all B * T frames."""

    def pick(x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(0, (b, t))[:, index]

    return EncodedFrame(tuple(pick(s) for s in encoded.shortcuts), pick(encoded.tokens),
                        encoded.size)
