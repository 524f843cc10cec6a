"""One tracking run of a :class:`~tracker.tracker.Tracker`: from an annotated frame to the end
of the video and back to its start, writing each frame's labels as they come.

A run carries the objects with the tracker's plan (DeAOT or the flow-and-colour tracker);
on an annotated frame it restarts the annotated objects from the user's labels, and every
``sam_gap`` frames forward it asks the segmenter for objects not yet tracked. It is a
generator of steps (see :mod:`tracker.stepping`), so several runs can batch their steps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from aot import Propagator, StepOutput
from tracker.flow_color_propagator import FlowColorPropagator
from tracker.stepping import Steps
from tracker.tracking_records import Annotation, TrackingReport

if TYPE_CHECKING:
    from tracker.tracker import Tracker

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
#: A run's propagation engine.
Engine = Propagator | FlowColorPropagator

DIRECTIONS = ("both", "forward", "backward")


def run_tracking(tracker: Tracker, start: int | None, direction: str,
                 on_progress: ProgressCallback | None,
                 should_stop: Callable[[], bool] | None) -> Steps[TrackingReport]:
    """Track every object of ``tracker`` from annotated frame ``start`` (default: the last
    edited) ``direction`` (both, forward or backward), as :meth:`Tracker.track` describes."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be both, forward or backward, not {direction!r}")
    record = tracker.record
    if tracker.model is None and tracker.plan.uses_deaot:
        raise ValueError("no DeAOT model: tracking with DeAOT needs one")
    if not record.annotations:
        raise ValueError("nothing to track: prompt at least one object first")
    start = record.last_edit if start is None else start
    if start not in record.annotations:
        raise ValueError(f"frame {start} has no annotation; tracking starts from one of "
                         f"frames {sorted(record.annotations)}")
    passes = []
    if direction in ("both", "forward"):
        passes.append(range(start + 1, tracker.num_frames))
    if direction in ("both", "backward") and start > 0:
        passes.append(range(start - 1, -1, -1))
    total = 1 + sum(len(p) for p in passes)
    report = TrackingReport()
    began = time.perf_counter()
    tracker.masks.write(start, record.without_removed(record.annotations[start].labels))
    report.frames = 1
    if on_progress is not None:
        on_progress(report.frames, total)
    for frames in passes:
        yield from _run_pass(tracker, start, frames, report, total, on_progress, should_stop)
        if report.cancelled:
            break
    report.seconds = time.perf_counter() - began
    logger.info("tracked %d frames in %.1f s (%.2f fps)%s", report.frames, report.seconds,
                report.fps, ", cancelled" if report.cancelled else "")
    return report


def _run_pass(tracker: Tracker, start: int, frames: range, report: TrackingReport,
              total: int, on_progress: ProgressCallback | None,
              should_stop: Callable[[], bool] | None) -> Steps[None]:
    """Track from ``start`` over ``frames`` (increasing or decreasing)."""
    forward = frames.step > 0
    engine = _new_engine(tracker)
    engine.add_reference(tracker.video.read(start), tracker.labels(start))
    video = tracker.video
    stream = (video.frames(frames.start, frames.stop) if forward
              else video.frames_backward(frames.start, frames.stop))
    waiting: tuple[int, StepOutput] | None = None  # labels not yet read back

    def store(index: int, labels: np.ndarray) -> None:
        tracker.masks.write(index, tracker.record.without_removed(labels))
        report.frames += 1
        if on_progress is not None:
            on_progress(report.frames, total)

    for index, image in stream:
        if should_stop is not None and should_stop():
            report.cancelled = True
            break
        output = yield engine, image
        if waiting is not None:  # read frame t-1 back while frame t computes
            store(waiting[0], waiting[1].labels)
            waiting = None
        annotation = tracker.record.annotations.get(index)
        if annotation is not None:
            labels = _merge_annotation(annotation, output.labels)
            engine.add_reference(image, labels)
        elif forward and tracker.sam_gap and (index - start) % tracker.sam_gap == 0:
            labels = _discover(tracker, index, image, output.labels, engine, report)
        else:
            waiting = (index, output)
            continue
        store(index, labels)
    if waiting is not None:
        store(waiting[0], waiting[1].labels)


def _new_engine(tracker: Tracker) -> Engine:
    """The propagation engine of one tracking pass."""
    if not tracker.plan.uses_deaot:
        return FlowColorPropagator(tracker.plan.flow_color)
    return Propagator(tracker.model, tracker.plan.propagator)


def _merge_annotation(annotation: Annotation, predicted: np.ndarray) -> np.ndarray:
    """The annotated objects as annotated; the others as predicted around them."""
    annotated = np.isin(annotation.labels, list(annotation.ids))
    others = np.where(np.isin(predicted, list(annotation.ids)), 0, predicted)
    return np.where(annotated, annotation.labels, others).astype(np.uint8)


def _discover(tracker: Tracker, index: int, image: np.ndarray, labels: np.ndarray,
              engine: Engine, report: TrackingReport) -> np.ndarray:
    """Objects the segmenter finds on frame ``index`` that are not tracked yet join the run."""
    merged, ids = tracker.find_new_objects(index, image, labels, "discovered", by_user=False)
    if not ids:
        return labels
    engine.add_reference(image, merged)
    report.discovered.extend(ids)
    logger.info("frame %d: discovered objects %s", index, ids)
    return merged
