"""An interactive tracking session: prompt objects on any frame, track, correct, re-track.

Results go to disk as they are made (one palette PNG per frame), frames are decoded as a
stream and the long-term memory is bounded, so a session runs in constant memory whatever
the video's length.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from aot import DeAOT, Propagator, StepOutput
from aot.object_slots import MAX_OBJECT_ID
from tracker.discovery import find_new_objects
from tracker.flow_color_propagator import FlowColorPropagator
from tracker.masks import MaskStore
from tracker.segmenter import Prompt, Segmenter, SegmentResult
from tracker.session_records import Annotation, PromptOutcome, TrackedObject, TrackingReport
from tracker.stepping import Steps, run_alone
from tracker.tracking_options import TrackingPlan
from tracker.video import FrameSource

logger = logging.getLogger(__name__)



@dataclass
class _State:
    objects: dict[int, TrackedObject]
    annotations: dict[int, Annotation]
    drafts: dict[tuple[int, int], tuple[Prompt, SegmentResult]]
    removed: set[int]
    next_id: int
    last_edit: int | None

    def copy(self) -> "_State":
        return _State(dict(self.objects), dict(self.annotations), dict(self.drafts),
                      set(self.removed), self.next_id, self.last_edit)


ProgressCallback = Callable[[int, int], None]


class Tracker:
    """Segment objects from prompts and track them through a video with stable ids.

    Args:
        video: the frames.
        work_dir: where results are written (``work_dir/masks/00000.png`` ...).
        model: the DeAOT network (shared read-only between sessions); may be set later, it
            is needed only to track.
        segmenter: turns prompts into masks (SAM or GrabCut).
        sam_gap: look for new objects every ``sam_gap`` frames while tracking forward
            (0: never). Needs a segmenter that can segment everything.
        min_area: smallest new object, in pixels.
        plan: how objects are carried (:class:`tracker.tracking_options.TrackingPlan`):
            DeAOT (``model``, with the plan's :class:`aot.PropagatorConfig`) or the
            training-free :class:`FlowColorPropagator`, which needs no model. Default:
            DeAOT with the tracker's default settings. Replace it whole to change how the
            next run tracks.
    """

    def __init__(self, video: FrameSource, work_dir: str | Path, model: DeAOT | None,
                 segmenter: Segmenter, sam_gap: int = 0, min_area: int = 200,
                 plan: TrackingPlan = TrackingPlan()) -> None:
        if sam_gap < 0:
            raise ValueError(f"sam_gap must be 0 (off) or positive, got {sam_gap}")
        if sam_gap and not segmenter.can_segment_everything:
            raise ValueError(f"sam_gap needs SAM; {segmenter.name} cannot segment everything")
        self.video = video
        self.work_dir = Path(work_dir)
        self.masks = MaskStore(self.work_dir / "masks")
        self.model = model
        self.segmenter = segmenter
        self.sam_gap = sam_gap
        self.min_area = min_area
        self.plan = plan
        self._state = _State({}, {}, {}, set(), 1, None)
        self._history: list[_State] = []
        self._cached_frame: tuple[int, np.ndarray] | None = None

    @property
    def num_frames(self) -> int:
        return self.video.info.num_frames

    @property
    def objects(self) -> dict[int, TrackedObject]:
        return dict(self._state.objects)

    @property
    def annotations(self) -> dict[int, Annotation]:
        return dict(self._state.annotations)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as (H, W, 3) uint8 RGB."""
        if self._cached_frame is None or self._cached_frame[0] != index:
            self._cached_frame = (index, self.video.read(index))
        return self._cached_frame[1]

    def labels(self, index: int) -> np.ndarray:
        """Current (H, W) uint8 labels of a frame: its annotation, else its tracked result,
        else empty."""
        self.video.check_index(index)
        annotation = self._state.annotations.get(index)
        if annotation is not None:
            return annotation.labels.copy()
        stored = self.masks.read(index)
        if stored is None:
            return np.zeros((self.video.info.height, self.video.info.width), np.uint8)
        return self._without_removed(stored)

    def _without_removed(self, labels: np.ndarray) -> np.ndarray:
        if self._state.removed:
            labels = np.where(np.isin(labels, list(self._state.removed)), 0, labels)
        return labels.astype(np.uint8)

    def _edit(self) -> _State:
        self._history.append(self._state.copy())
        return self._state

    def new_object(self) -> int:
        """Reserve the next object id (the largest id so far + 1; ids are never reused)."""
        state = self._state
        if state.next_id > MAX_OBJECT_ID:
            raise ValueError(f"a video holds at most {MAX_OBJECT_ID} objects")
        self._edit().next_id += 1
        return state.next_id - 1

    def prompt(self, frame: int, object_id: int, prompt: Prompt) -> PromptOutcome:
        """Add clicks and/or a box for ``object_id`` on ``frame`` and re-segment it.

        An id not seen before creates the object (see :meth:`new_object`). Clicks accumulate
        per object and frame; each call refines the object's previous mask on that frame.
        The object's new mask replaces its old pixels on the frame and covers other objects
        where they overlap.
        """
        self.video.check_index(frame)
        if not 1 <= object_id <= MAX_OBJECT_ID:
            raise ValueError(f"object ids lie in 1..{MAX_OBJECT_ID}, got {object_id}")
        if object_id in self._state.removed:
            raise ValueError(f"object {object_id} was removed; ids are never reused")
        image = self.frame(frame)
        draft = self._state.drafts.get((frame, object_id))
        combined = prompt if draft is None else draft[0].extended(prompt)
        combined.validate(image.shape[1], image.shape[0])
        result = self.segmenter.segment(image, combined, None if draft is None else draft[1])
        labels = self.labels(frame)
        labels[labels == object_id] = 0
        labels[result.mask] = object_id
        state = self._edit()
        state.drafts[(frame, object_id)] = (combined, result)
        self._annotate(state, frame, labels, {object_id}, "prompt", result.segmenter)
        return PromptOutcome(object_id, result, labels)

    def set_labels(self, frame: int, labels: np.ndarray, source: str = "mask") -> list[int]:
        """Annotate ``frame`` with a whole (H, W) label map; returns the ids it holds."""
        self.video.check_index(frame)
        size = (self.video.info.height, self.video.info.width)
        if labels.shape != size:
            raise ValueError(f"mask is {labels.shape[1] if labels.ndim > 1 else '?'}x"
                             f"{labels.shape[0]}, the video {size[1]}x{size[0]}")
        ids = [int(i) for i in np.unique(labels) if i]
        if not ids:
            raise ValueError("the mask holds no object (all pixels are 0)")
        if max(ids) > MAX_OBJECT_ID:
            raise ValueError(f"object ids must lie in 1..{MAX_OBJECT_ID}")
        reused = sorted(set(ids) & self._state.removed)
        if reused:
            raise ValueError(f"ids {reused} belong to removed objects; ids are never reused")
        state = self._edit()
        self._annotate(state, frame, labels.astype(np.uint8), set(ids), source, None)
        return ids

    def segment_everything(self, frame: int) -> list[int]:
        """Add every object SAM finds on ``frame`` that is not already labelled there."""
        image = self.frame(frame)
        segments = self.segmenter.segment_everything(image, self.min_area)
        labels = self.labels(frame)
        new, ids = find_new_objects(labels, segments, self._state.next_id, self.min_area,
                                    MAX_OBJECT_ID)
        if ids:
            state = self._edit()
            self._annotate(state, frame, np.where(new > 0, new, labels).astype(np.uint8),
                           set(ids), "everything", self.segmenter.name)
        return ids

    def remove_object(self, object_id: int) -> None:
        """Remove an object from every annotation and result; its id is not reused."""
        if object_id not in self._state.objects:
            raise ValueError(f"object {object_id} does not exist")
        state = self._edit()
        del state.objects[object_id]
        state.removed.add(object_id)
        state.drafts = {k: v for k, v in state.drafts.items() if k[1] != object_id}
        for index, annotation in list(state.annotations.items()):
            ids = annotation.ids - {object_id}
            if not ids:
                del state.annotations[index]
                continue
            labels = np.where(annotation.labels == object_id, 0, annotation.labels)
            state.annotations[index] = Annotation(index, labels.astype(np.uint8), frozenset(ids))

    def undo(self) -> bool:
        """Revert the last edit; ``False`` if there is none."""
        if not self._history:
            return False
        self._state = self._history.pop()
        return True

    def _annotate(self, state: _State, frame: int, labels: np.ndarray, ids: set[int],
                  source: str, segmenter: str | None, by_user: bool = True) -> None:
        previous = state.annotations.get(frame)
        annotated = set(ids) | (set(previous.ids) if previous else set())
        present = {int(i) for i in np.unique(labels) if i}
        state.annotations[frame] = Annotation(frame, labels, frozenset(annotated & present))
        for object_id in ids:
            if object_id not in state.objects:
                state.objects[object_id] = TrackedObject(object_id, frame, source, segmenter)
            elif segmenter and state.objects[object_id].segmenter != segmenter:
                state.objects[object_id] = replace(state.objects[object_id], segmenter=segmenter)
        state.next_id = max(state.next_id, max(ids) + 1)
        if by_user:
            state.last_edit = frame

    def track(self, start: int | None = None, direction: str = "both",
              on_progress: ProgressCallback | None = None,
              should_stop: Callable[[], bool] | None = None) -> TrackingReport:
        """Track every object from an annotated frame to the end (and back to frame 0).

        Args:
            start: annotated frame to start from; default the last edited one.
            direction: "both", "forward" or "backward".
            on_progress: called with (frames done, frames in this run) after each frame.
            should_stop: polled between frames; when it returns ``True`` tracking stops and
                every result written so far stays valid.
        """
        return run_alone(self.track_steps(start, direction, on_progress, should_stop))

    def track_steps(self, start: int | None = None, direction: str = "both",
                    on_progress: ProgressCallback | None = None,
                    should_stop: Callable[[], bool] | None = None) -> Steps[TrackingReport]:
        """:meth:`track` as a generator of DeAOT steps (see :mod:`tracker.stepping`), so that
        several videos can be tracked with their steps batched together."""
        if direction not in ("both", "forward", "backward"):
            raise ValueError(f"direction must be both, forward or backward, not {direction!r}")
        state = self._state
        if self.model is None and self.plan.uses_deaot:
            raise ValueError("no DeAOT model: tracking with DeAOT needs one")
        if not state.annotations:
            raise ValueError("nothing to track: prompt at least one object first")
        start = state.last_edit if start is None else start
        if start not in state.annotations:
            raise ValueError(f"frame {start} has no annotation; tracking starts from one of "
                             f"frames {sorted(state.annotations)}")
        passes = []
        if direction in ("both", "forward"):
            passes.append(range(start + 1, self.num_frames))
        if direction in ("both", "backward") and start > 0:
            passes.append(range(start - 1, -1, -1))
        total = 1 + sum(len(p) for p in passes)
        report = TrackingReport()
        began = time.perf_counter()
        self.masks.write(start, self._without_removed(state.annotations[start].labels))
        report.frames = 1
        if on_progress is not None:
            on_progress(report.frames, total)
        for frames in passes:
            yield from self._run_pass(start, frames, report, total, on_progress, should_stop)
            if report.cancelled:
                break
        report.seconds = time.perf_counter() - began
        logger.info("tracked %d frames in %.1f s (%.2f fps)%s", report.frames, report.seconds,
                    report.fps, ", cancelled" if report.cancelled else "")
        return report

    def _run_pass(self, start: int, frames: range, report: TrackingReport, total: int,
                  on_progress: ProgressCallback | None,
                  should_stop: Callable[[], bool] | None) -> Steps[None]:
        forward = frames.step > 0
        propagator = self._new_propagator()
        propagator.add_reference(self.video.read(start), self.labels(start))
        stream = (self.video.frames(frames.start, frames.stop) if forward
                  else self.video.frames_backward(frames.start, frames.stop))
        waiting: tuple[int, StepOutput] | None = None  # labels not yet read back

        def store(index: int, labels: np.ndarray) -> None:
            self.masks.write(index, self._without_removed(labels))
            report.frames += 1
            if on_progress is not None:
                on_progress(report.frames, total)

        for index, image in stream:
            if should_stop is not None and should_stop():
                report.cancelled = True
                break
            output = yield propagator, image
            if waiting is not None:  # read frame t-1 back while frame t computes
                store(waiting[0], waiting[1].labels)
                waiting = None
            annotation = self._state.annotations.get(index)
            if annotation is not None:
                labels = self._merge_annotation(annotation, output.labels)
                propagator.add_reference(image, labels)
            elif forward and self.sam_gap and (index - start) % self.sam_gap == 0:
                labels = self._discover(index, image, output.labels, propagator, report)
            else:
                waiting = (index, output)
                continue
            store(index, labels)
        if waiting is not None:
            store(waiting[0], waiting[1].labels)

    def _new_propagator(self) -> Propagator | FlowColorPropagator:
        """The propagation engine of one tracking pass."""
        if not self.plan.uses_deaot:
            return FlowColorPropagator(self.plan.flow_color)
        return Propagator(self.model, self.plan.propagator)

    @staticmethod
    def _merge_annotation(annotation: Annotation, predicted: np.ndarray) -> np.ndarray:
        """The annotated objects as annotated; the others as predicted around them."""
        annotated = np.isin(annotation.labels, list(annotation.ids))
        others = np.where(np.isin(predicted, list(annotation.ids)), 0, predicted)
        return np.where(annotated, annotation.labels, others).astype(np.uint8)

    def _discover(self, index: int, image: np.ndarray, labels: np.ndarray,
                  propagator: Propagator | FlowColorPropagator,
                  report: TrackingReport) -> np.ndarray:
        segments = self.segmenter.segment_everything(image, self.min_area)
        new, ids = find_new_objects(labels, segments, self._state.next_id, self.min_area,
                                    MAX_OBJECT_ID)
        if not ids:
            return labels
        merged = np.where(new > 0, new, labels).astype(np.uint8)
        self._annotate(self._state, index, merged, set(ids), "discovered", self.segmenter.name,
                       by_user=False)
        propagator.add_reference(image, merged)
        report.discovered.extend(ids)
        logger.info("frame %d: discovered objects %s", index, ids)
        return merged
