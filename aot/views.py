"""Test-time augmentation views: scale factors, mirrored frames, and the fusion of the
views' predictions of one frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """``scales`` as a tuple of floats, or ``ValueError`` unless each lies in (0, 4]."""
    if not scales or any(not 0 < scale <= 4 for scale in scales):
        raise ValueError(f"scales must be one or more factors in (0, 4], got {tuple(scales)}")
    return tuple(float(scale) for scale in scales)


def mirrored(image: np.ndarray) -> np.ndarray:
    """(H, W, ...) array mirrored left-right, contiguous."""
    return np.ascontiguousarray(image[:, ::-1])


def fuse_views(logits: Sequence[torch.Tensor], mirrored_views: Sequence[bool]) -> torch.Tensor:
    """(C, H, W) logits of several views of a frame -> (C, H, W) logits of the mean of
    their softmax outputs, in the frame's orientation (views marked mirrored are flipped
    back first)."""
    probs = torch.stack([(view.flip(-1) if mirror else view).softmax(dim=0)
                         for view, mirror in zip(logits, mirrored_views)]).mean(dim=0)
    return probs.clamp_min(torch.finfo(probs.dtype).tiny).log()
