"""Frame and label preprocessing exactly as the official evaluation pipeline does it.

* Network input size: frames whose longer side exceeds 1040 px are scaled down to it, then
  multiplied by the test-time scale (1 officially), then each side is snapped to the encoder
  stride (16k + 1 for align-corners variants, 16k for Swin) with round-half-to-even.
* Frames are resized with OpenCV's bicubic filter on float32 (PyTorch's bicubic differs by
  up to 1e-4), scaled to [0, 1] and normalised with the ImageNet mean and std.
* Label maps are resized with nearest-neighbour sampling (PyTorch's ``nearest`` rule).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

MAX_LONG_SIDE = 1040
STRIDE = 16
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float64)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float64)


def network_input_size(height: int, width: int, align_corners: bool,
                       scale: float = 1.0) -> tuple[int, int]:
    """The (h, w) at which a (height, width) frame enters the network, at ``scale`` times
    the official size (multi-scale test-time augmentation)."""
    long_side = max(height, width)
    if long_side > MAX_LONG_SIDE:
        ratio = MAX_LONG_SIDE / long_side
        height, width = math.floor(ratio * height), math.floor(ratio * width)
    if scale != 1.0:
        height, width = round(scale * height), round(scale * width)

    def snap(side: int) -> int:
        if align_corners:
            return STRIDE * max(round((side - 1) / STRIDE), 1) + 1
        return STRIDE * max(round(side / STRIDE), 1)

    return snap(height), snap(width)


def check_frame(frame: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``frame`` is an (H, W, 3) uint8 RGB image."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        raise ValueError(f"frame must be an (H, W, 3) RGB array, got shape {shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {frame.dtype}")
    if min(frame.shape[:2]) < 2:
        raise ValueError(f"frame of size {frame.shape[1]}x{frame.shape[0]} is too small")


def preprocess_frame(frame: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, h, w) float32 network input for ``size`` = (h, w)."""
    image = frame.astype(np.float32)
    if image.shape[:2] != size:
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    image = ((image / np.float32(255.0) - MEAN) / STD).astype(np.float32)
    return torch.from_numpy(image.transpose(2, 0, 1).copy()).unsqueeze(0)


def resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(H, W) integer labels -> (h, w) labels by nearest-neighbour sampling (same dtype)."""
    if tuple(labels.shape) == tuple(size):
        return labels
    resized = F.interpolate(labels[None, None].float(), size=size, mode="nearest")
    return resized[0, 0].to(labels.dtype)
