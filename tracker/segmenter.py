"""Prompts to masks: the prompt types and the segmenters' common interface.

Four segmenters implement it: :class:`tracker.sam.SamSegmenter` (Segment Anything),
:class:`tracker.sam2_segmenter.Sam2Segmenter` (SAM 2.1),
:class:`tracker.geodesic_grabcut.GeodesicGrabCutSegmenter` (used when no SAM checkpoint is
present) and :class:`tracker.grabcut.GrabCutSegmenter` (plain OpenCV GrabCut). Every
:class:`SegmentResult` names the segmenter that made it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


class PromptError(ValueError):
    """A prompt that cannot be applied to the frame (e.g. a click outside it)."""


@dataclass(frozen=True)
class Prompt:
    """Clicks and/or a box on one frame, for one object.

    Attributes:
        points: (x, y) pixel positions of the clicks.
        labels: 1 for a positive click (on the object), 0 for a negative one.
        box: (x0, y0, x1, y1) in pixels, or ``None``.
    """

    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None

    def validate(self, width: int, height: int) -> None:
        """Raise :class:`PromptError` unless the prompt fits a ``width`` x ``height`` frame."""
        if len(self.points) != len(self.labels):
            raise PromptError(f"{len(self.points)} clicks but {len(self.labels)} click labels")
        for (x, y), label in zip(self.points, self.labels):
            if not (0 <= x < width and 0 <= y < height):
                raise PromptError(f"click ({x:g}, {y:g}) lies outside the {width}x{height} frame")
            if label not in (0, 1):
                raise PromptError(f"click label must be 1 (object) or 0 (background), got {label}")
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                raise PromptError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) does not lie inside "
                                  f"the {width}x{height} frame with x0 < x1 and y0 < y1")
        if self.box is None and 1 not in self.labels:
            raise PromptError("a prompt needs a box or at least one positive click")

    def as_arrays(self) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """The prompt as SAM's predictors take it: click positions (N, 2) float32, click
        labels (N,) int64 (both ``None`` without clicks) and the box (4,) float32 or
        ``None``."""
        points = np.array(self.points, np.float32) if self.points else None
        labels = np.array(self.labels, np.int64) if self.points else None
        box = np.array(self.box, np.float32) if self.box is not None else None
        return points, labels, box

    def extended(self, other: "Prompt") -> "Prompt":
        """This prompt's clicks followed by ``other``'s; ``other``'s box if it has one."""
        return Prompt(self.points + other.points, self.labels + other.labels,
                      other.box if other.box is not None else self.box)


@dataclass(frozen=True)
class SegmentResult:
    """One object's mask on one frame.

    Attributes:
        mask: (H, W) bool.
        segmenter: what made it, e.g. ``"sam_vit_b"`` or ``"grabcut"``.
        score: the segmenter's confidence (SAM's predicted IoU), ``None`` if it has none.
        logits: segmenter state for refining this mask with further clicks (SAM's
            (1, 256, 256) low-resolution logits), or ``None``.
    """

    mask: np.ndarray
    segmenter: str
    score: float | None = None
    logits: np.ndarray | None = field(default=None, repr=False)


class Segmenter:
    """Turns prompts into masks on RGB frames."""

    #: Name recorded in every result.
    name: str = "segmenter"
    #: Whether :meth:`segment_everything` is available.
    can_segment_everything: bool = False

    def segment(self, image: np.ndarray, prompt: Prompt,
                previous: SegmentResult | None = None) -> SegmentResult:
        """Mask of the object ``prompt`` points at in ``image`` ((H, W, 3) uint8 RGB).

        ``previous`` is this object's last mask on the same frame; it is refined.
        """
        raise NotImplementedError

    def segment_everything(self, image: np.ndarray, min_area: int) -> list[np.ndarray]:
        """Masks ((H, W) bool) of all objects in ``image``, each of at least ``min_area``."""
        raise NotImplementedError(f"{self.name} cannot segment everything; it needs a SAM "
                                  "checkpoint (python -m tracker download sam_vit_b)")


def check_image(image: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``image`` is (H, W, 3) uint8."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
            or image.dtype != np.uint8:
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array, got "
                         f"{getattr(image, 'shape', None)} {getattr(image, 'dtype', None)}")


def image_key(image: np.ndarray) -> bytes:
    """A key that tells frames apart (a digest of the pixels and the shape), under which a
    segmenter keeps the embedding it computed."""
    return hashlib.blake2b(image.tobytes(), digest_size=16).digest() \
        + bytes(str(image.shape), "ascii")
