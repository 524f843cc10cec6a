"""What a tracking session records: its objects, the user's annotations, the outcome of a
prompt and the report of a tracking run."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tracker.segmenter import SegmentResult


@dataclass(frozen=True)
class TrackedObject:
    """An object of the session. ``source``: prompt, mask, everything or discovered."""

    id: int
    first_frame: int
    source: str
    segmenter: str | None = None


@dataclass(frozen=True)
class Annotation:
    """Labels the user gave a frame. ``ids`` are the objects annotated on it; the other
    objects in ``labels`` are the tracked result the user edited on top of."""

    frame: int
    labels: np.ndarray
    ids: frozenset[int]


@dataclass(frozen=True)
class PromptOutcome:
    """Result of a prompt: the object's mask and the frame's new labels."""

    object_id: int
    result: SegmentResult
    labels: np.ndarray


@dataclass
class TrackingReport:
    """What a tracking run did."""

    frames: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    discovered: list[int] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0
