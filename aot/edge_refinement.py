"""Edge refinement: a guided filter (He et al., 2013) snaps the object probabilities, which
the decoder resolves only to cells of 4x4 network-input pixels, to the edges of the frame.

The filter fits, in every window of ``2 * radius + 1`` pixels, each probability map as a
linear function of the frame's colours, and averages the fits. Where the window holds an
edge of the frame, a probability ramp across it becomes a step on it; where the frame is
flat (colour variance well under ``eps``), the probabilities are only smoothed. The refined
probabilities are what a propagator reports; its memory keeps the network's own labels, so
the refinement cannot feed back into tracking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

#: Probability maps filtered at once, which bounds the memory for many objects.
_CHANNEL_CHUNK = 16


@dataclass(frozen=True)
class EdgeRefinement:
    """Settings of the guided filter.

    Attributes:
        radius: half the window side, in network-input pixels (converted to frame pixels,
            at least 1).
        eps: regularisation, in squared colour levels on a 0-1 scale: edges whose contrast
            is much less than ``sqrt(eps)`` within a window are smoothed over.
    """

    radius: int = 4
    eps: float = 1e-3

    def __post_init__(self) -> None:
        if self.radius < 1:
            raise ValueError(f"edge refinement radius must be at least 1, got {self.radius}")
        if not self.eps > 0:
            raise ValueError(f"edge refinement eps must be positive, got {self.eps}")

    def frame_radius(self, frame_size: tuple[int, int], input_size: tuple[int, int]) -> int:
        """The radius in pixels of a (H, W) frame that enters the network at (h, w)."""
        return max(1, round(self.radius * max(frame_size) / max(input_size)))


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """(C, H, W) -> (C, H, W) mean over each (2r + 1)^2 window, the border pixels repeated
    outside the frame."""
    side = 2 * radius + 1
    padded = F.pad(x[None], (radius,) * 4, mode="replicate")
    rows = F.avg_pool2d(padded, (1, side), stride=1)  # separable: 2 * side adds per pixel
    return F.avg_pool2d(rows, (side, 1), stride=1)[0]


def guided_filter(probs: torch.Tensor, guide: torch.Tensor, radius: int,
                  eps: float) -> torch.Tensor:
    """Colour guided filter of probability maps, renormalised to sum to 1 over channels.

    Args:
        probs: (C, H, W) probabilities over background and objects.
        guide: (3, H, W) colours in [0, 1].
        radius: window half-side in pixels.
        eps: regularisation (see :class:`EdgeRefinement`).

    Returns:
        (C, H, W) float32 probabilities. A channel that is 0 everywhere stays 0.
    """
    guide = guide.float()
    mean_guide = box_mean(guide, radius)  # (3, H, W)
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    covariance = box_mean(torch.stack([guide[i] * guide[j] for i, j in pairs]), radius) \
        - torch.stack([mean_guide[i] * mean_guide[j] for i, j in pairs])
    covariance[[0, 3, 5]] += eps  # the diagonal
    inverse = _inverse_symmetric_3x3(covariance)
    refined = torch.cat([_filter_chunk(chunk, guide, mean_guide, inverse, radius)
                         for chunk in probs.float().split(_CHANNEL_CHUNK)])
    return refined / refined.sum(dim=0, keepdim=True).clamp_min(1e-6)


def _inverse_symmetric_3x3(upper: torch.Tensor) -> torch.Tensor:
    """(6, H, W) entries 00, 01, 02, 11, 12, 22 of symmetric 3x3 matrices -> (3, 3, H, W)
    their inverses (by cofactors; the matrices must be positive definite)."""
    a, b, c, d, e, f = upper
    cofactors = (d * f - e * e, c * e - b * f, b * e - c * d, a * f - c * c, b * c - a * e,
                 a * d - b * b)
    det = a * cofactors[0] + b * cofactors[1] + c * cofactors[2]
    m00, m01, m02, m11, m12, m22 = (cofactor / det for cofactor in cofactors)
    return torch.stack([torch.stack([m00, m01, m02]), torch.stack([m01, m11, m12]),
                        torch.stack([m02, m12, m22])])


def _filter_chunk(probs: torch.Tensor, guide: torch.Tensor, mean_guide: torch.Tensor,
                  inverse: torch.Tensor, radius: int) -> torch.Tensor:
    """(c, H, W) probabilities -> (c, H, W) filtered, not renormalised, clamped at 0;
    ``inverse`` is the (3, 3, H, W) inverse of each window's regularised colour covariance."""
    mean_probs = box_mean(probs, radius)
    cross = [box_mean(guide[j] * probs, radius) - mean_guide[j] * mean_probs for j in range(3)]
    slopes = [sum(inverse[i, j] * cross[j] for j in range(3)) for i in range(3)]
    offset = mean_probs - sum(slope * mean_guide[i] for i, slope in enumerate(slopes))
    return (sum(box_mean(slope, radius) * guide[i] for i, slope in enumerate(slopes))
            + box_mean(offset, radius)).clamp_min(0)


def colours(frame: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 in [0, 1] on ``device``."""
    return torch.from_numpy(frame).to(device).permute(2, 0, 1).float() / 255.0


def refine_edges(log_probs: torch.Tensor, frame: np.ndarray, radius: int,
                 eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Guided-filter a frame's prediction.

    Args:
        log_probs: (C, H, W) logits or log-probabilities over background and objects.
        frame: (H, W, 3) uint8 RGB, the guide.
        radius: window half-side in frame pixels.
        eps: regularisation (see :class:`EdgeRefinement`).

    Returns:
        (H, W) uint8 labels, the argmax of the (C, H, W) refined log-probabilities also
        returned.
    """
    probs = guided_filter(log_probs.softmax(dim=0), colours(frame, log_probs.device),
                          radius, eps)
    refined = probs.clamp_min(torch.finfo(probs.dtype).tiny).log()
    return refined.permute(1, 2, 0).contiguous().argmax(dim=-1).to(torch.uint8), refined
