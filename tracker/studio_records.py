"""The values a studio session takes and hands out: the user's :class:`Settings`, tracking
:class:`Progress` for display, and :class:`StudioError` for requests it refuses."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.tracking_options import TrackingOptions


class StudioError(ValueError):
    """A request the session cannot carry out, with a message for the user."""


@dataclass(frozen=True)
class Settings:
    """What the user chose in the settings panel.

    Attributes:
        sam: the click segmenter: a SAM name or path, or an offline segmenter's name
            (default: the best SAM present, else the offline default).
        sam_gap: look for new objects every this many frames while tracking (0: never):
            those the last "Find objects" text names, else everything SAM finds.
        tracking: how to track, on which device (``auto`` choices resolve at each run, for
            the models present then).
        detector: the text detector's registry name or folder (default: the best present).
    """

    sam: str | None = None
    sam_gap: int = 0
    tracking: TrackingOptions = TrackingOptions()
    detector: str | None = None


@dataclass(frozen=True)
class Progress:
    """Tracking progress for display."""

    done: int
    total: int
    fps: float

    @property
    def eta_seconds(self) -> float:
        return (self.total - self.done) / self.fps if self.fps else float("inf")

    def describe(self) -> str:
        eta = f"{self.eta_seconds:.0f} s" if self.fps else "?"
        return f"frame {self.done}/{self.total}, {self.fps:.1f} fps, ETA {eta}"
