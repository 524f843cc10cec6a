"""DeAOT's training loss: bootstrapped cross-entropy plus soft Jaccard, weighted equally.

The cross-entropy keeps only the hardest pixels: the kept share anneals from all pixels to
``top_k`` (15%) over the first ``hard_mining_steps`` steps. The soft Jaccard loss is the
Tversky loss with alpha = beta = 1, averaged over the labels present in each ground truth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bootstrapped_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, step: int,
                               hard_mining_steps: int, top_k: float = 0.15) -> torch.Tensor:
    """logits (B, C, H, W), labels (B, H, W) int64 -> (B,) mean loss of the hardest pixels."""
    pixel_losses = F.cross_entropy(logits, labels, reduction="none").flatten(1)
    ratio = min(1.0, step / hard_mining_steps) if hard_mining_steps > 0 else 1.0
    kept = max(1, int((ratio * top_k + (1.0 - ratio)) * pixel_losses.shape[1]))
    return pixel_losses.topk(kept, dim=1).values.mean(dim=1)


def soft_jaccard(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """logits (B, C, H, W), labels (B, H, W) int64 -> (B,) 1 - soft IoU, averaged over the
    labels present in each sample."""
    probs = logits.float().softmax(dim=1)
    one_hot = F.one_hot(labels, probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    intersection = (probs * one_hot).sum(dim=(2, 3))
    union = probs.sum(dim=(2, 3)) + one_hot.sum(dim=(2, 3)) - intersection
    present = one_hot.sum(dim=(2, 3)) > 0
    losses = (1 - intersection / (union + 1e-6)) * present
    return losses.sum(dim=1) / present.sum(dim=1).clamp(min=1)


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, step: int,
                      hard_mining_steps: int) -> torch.Tensor:
    """The equally weighted sum, averaged over the batch (a scalar)."""
    logits = logits.float()
    return (0.5 * bootstrapped_cross_entropy(logits, labels, step, hard_mining_steps)
            + 0.5 * soft_jaccard(logits, labels)).mean()
