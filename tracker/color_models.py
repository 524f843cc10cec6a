"""Colour models of one object against its surroundings, for the flow-and-colour tracker.

Two models answer "how object-like is this pixel's colour", each as a probability map:

* :class:`ColorHistogramModel`, global: a 3-D colour histogram of the object on a reference
  frame against one of the band of background around it (learned once per reference, so
  the object's look on the annotated frame anchors every later frame);
* :func:`local_color_likelihood`, local: the previous frame's object and background
  colours, moved onto the current frame by the optical flow, in a grid of cells (a
  bilateral grid in position and colour), so that a colour counts as object where the
  object had it nearby a frame ago, even if the same colour is background elsewhere.

Colours are 8-bit CIE Lab as OpenCV computes it, (H, W, 3) uint8.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

#: Pseudo-counts that keep a likelihood defined (0.5) where a model has seen nothing.
_PRIOR_COUNT = 1e-3
_CELL_PRIOR = 0.05


def disc(radius: int) -> np.ndarray:
    """An elliptic structuring element of the given radius in pixels."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


class ColorHistogramModel:
    """The object's colour histogram against its surroundings' on a reference frame.

    Args:
        lab: (H, W, 3) uint8 Lab frame.
        mask: (H, W) bool, the object.
        background: (H, W) bool, pixels of no object (other objects are not this one's
            background: they may share its colours).
        bins: histogram bins per channel.
        ring_width: the background is the band this many pixels wide around the object.
    """

    def __init__(self, lab: np.ndarray, mask: np.ndarray, background: np.ndarray, bins: int,
                 ring_width: int) -> None:
        self.bins = bins
        inside = mask.astype(np.float32)
        ring = (cv2.dilate(inside, disc(ring_width)) - inside) * background
        index = self.bin_index(lab)
        foreground = np.bincount(index.ravel(), inside.ravel(), bins ** 3) + _PRIOR_COUNT
        background = np.bincount(index.ravel(), ring.ravel(), bins ** 3) + _PRIOR_COUNT
        foreground /= foreground.sum()
        background /= background.sum()
        self._object_share = (foreground / (foreground + background)).astype(np.float32)

    def bin_index(self, lab: np.ndarray) -> np.ndarray:
        """(H, W) int histogram bin of each pixel of an (H, W, 3) uint8 frame."""
        quantized = (lab.astype(np.int32) * self.bins) >> 8
        return (quantized[..., 0] * self.bins + quantized[..., 1]) * self.bins \
            + quantized[..., 2]

    def likelihood(self, lab: np.ndarray) -> np.ndarray:
        """(H, W) float32 probability that each pixel's colour is the object's."""
        return self._object_share[self.bin_index(lab)]


def local_color_likelihood(previous_lab: np.ndarray, previous_prob: np.ndarray,
                           previous_background: np.ndarray, lab: np.ndarray, cell: int,
                           bins: int, blur: float) -> np.ndarray:
    """How object-like each pixel's colour is among the previous frame's nearby pixels.

    Args:
        previous_lab: (H, W, 3) uint8, the previous frame moved onto this one by the flow.
        previous_prob: (H, W) float32, the object's probability there, moved likewise.
        previous_background: (H, W) float32, the probability of no object there.
        lab: (H, W, 3) uint8, this frame.
        cell: grid cell side in pixels.
        bins: colour bins per channel.
        blur: Gaussian blur of the grid, in cells and bins.

    Returns:
        (H, W) float32 in (0, 1).
    """
    height, width = lab.shape[:2]
    rows, cols = -(-height // cell), -(-width // cell)
    cell_of = (np.arange(height)[:, None] // cell) * cols + np.arange(width)[None, :] // cell

    def grid_index(image: np.ndarray) -> np.ndarray:
        quantized = (image.astype(np.int32) * bins) >> 8
        return ((cell_of * bins + quantized[..., 0]) * bins + quantized[..., 1]) * bins \
            + quantized[..., 2]

    shape = (rows, cols, bins, bins, bins)
    size = int(np.prod(shape))
    source = grid_index(previous_lab).ravel()
    inside = gaussian_filter(np.bincount(source, previous_prob.ravel().astype(np.float64),
                                         size).reshape(shape), blur)
    outside = gaussian_filter(np.bincount(source, previous_background.ravel().astype(
        np.float64), size).reshape(shape), blur)
    target = grid_index(lab)
    a, b = inside.ravel()[target], outside.ravel()[target]
    return ((a + _CELL_PRIOR) / (a + b + 2 * _CELL_PRIOR)).astype(np.float32)
