"""An interactive tracking session: prompt objects on any frame, track, correct, re-track.

The :class:`Tracker` turns prompts into masks with its segmenter (and text prompts into
boxes with its detector, then masks), keeps what the user said
in an :class:`~tracker.annotation_record.AnnotationRecord` and tracks with
:func:`tracker.tracking_run.run_tracking`. Results go to disk as they are made (one palette
PNG per frame), frames are decoded as a stream and the long-term memory is bounded, so a
session runs in constant memory whatever the video's length.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from aot import DeAOT
from tracker.annotation_record import AnnotationRecord
from tracker.masks import MaskStore
from tracker.segmenter import Prompt, Segmenter
from tracker.stepping import Steps, run_alone
from tracker.text_detector import MISSING_DETECTOR, TextDetector, TextPromptConfig
from tracker.text_prompts import name_objects, segment_detections
from tracker.tracking_options import TrackingPlan
from tracker.tracking_records import Annotation, PromptOutcome, TrackedObject, TrackingReport
from tracker.tracking_run import ProgressCallback, run_tracking
from tracker.video import FrameSource


class Tracker:
    """Segment objects from prompts and track them through a video with stable ids.

    Args:
        video: the frames.
        work_dir: where results are written (``work_dir/masks/00000.png`` ...).
        model: the DeAOT network (shared read-only between sessions); may be set later, it
            is needed only to track with DeAOT.
        segmenter: turns prompts into masks (SAM or an offline segmenter).
        sam_gap: look for new objects every ``sam_gap`` frames while tracking forward
            (0: never): what ``text`` names, or else everything the segmenter finds (which
            needs a segmenter that can segment everything).
        min_area: smallest new object, in pixels.
        plan: how objects are carried (:class:`tracker.tracking_options.TrackingPlan`):
            DeAOT (``model``, with the plan's :class:`aot.PropagatorConfig`) or the
            training-free flow-and-colour tracker, which needs no model. Default: DeAOT
            with the tracker's default settings. Replace it whole to change how the next
            run tracks.
        detector: turns text prompts into boxes (:meth:`find`); may be set later.
        text: the text prompt new objects are looked for with every ``sam_gap`` frames
            (``None``: segment everything); may be set later.
        text_config: the detector's thresholds.
    """

    def __init__(self, video: FrameSource, work_dir: str | Path, model: DeAOT | None,
                 segmenter: Segmenter, sam_gap: int = 0, min_area: int = 200,
                 plan: TrackingPlan = TrackingPlan(), detector: TextDetector | None = None,
                 text: str | None = None,
                 text_config: TextPromptConfig = TextPromptConfig()) -> None:
        if sam_gap < 0:
            raise ValueError(f"sam_gap must be 0 (off) or positive, got {sam_gap}")
        if sam_gap and text is None and not segmenter.can_segment_everything:
            raise ValueError(f"sam_gap needs SAM or a text prompt; {segmenter.name} cannot "
                             "segment everything")
        self.video = video
        self.work_dir = Path(work_dir)
        self.masks = MaskStore(self.work_dir / "masks")
        self.model = model
        self.segmenter = segmenter
        self.sam_gap = sam_gap
        self.min_area = min_area
        self.plan = plan
        self.detector = detector
        self.text = text
        self.text_config = text_config
        #: The phrase of each object found by a text prompt, by id.
        self.categories: dict[int, str] = {}
        self.record = AnnotationRecord()
        self._cached_frame: tuple[int, np.ndarray] | None = None

    @property
    def num_frames(self) -> int:
        return self.video.info.num_frames

    @property
    def objects(self) -> dict[int, TrackedObject]:
        return self.record.objects

    @property
    def annotations(self) -> dict[int, Annotation]:
        return self.record.annotations

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as (H, W, 3) uint8 RGB."""
        if self._cached_frame is None or self._cached_frame[0] != index:
            self._cached_frame = (index, self.video.read(index))
        return self._cached_frame[1]

    def labels(self, index: int) -> np.ndarray:
        """Current (H, W) uint8 labels of a frame: its annotation, else its tracked result,
        else empty."""
        self.video.check_index(index)
        annotation = self.record.annotations.get(index)
        if annotation is not None:
            return annotation.labels.copy()
        stored = self.masks.read(index)
        if stored is None:
            return np.zeros((self.video.info.height, self.video.info.width), np.uint8)
        return self.record.without_removed(stored)

    def prompt_of(self, frame: int, object_id: int) -> Prompt | None:
        """The clicks and box given so far for ``object_id`` on ``frame``, if any."""
        draft = self.record.drafts.get((frame, object_id))
        return None if draft is None else draft[0]

    def new_object(self) -> int:
        """Reserve the next object id (the largest id so far + 1; ids are never reused)."""
        return self.record.new_object()

    def prompt(self, frame: int, object_id: int, prompt: Prompt) -> PromptOutcome:
        """Add clicks and/or a box for ``object_id`` on ``frame`` and re-segment it.

        An id not seen before creates the object (see :meth:`new_object`). Clicks accumulate
        per object and frame; each call refines the object's previous mask on that frame.
        The object's new mask replaces its old pixels on the frame and covers other objects
        where they overlap.
        """
        self.video.check_index(frame)
        self.record.check_new_id(object_id)
        image = self.frame(frame)
        draft = self.record.drafts.get((frame, object_id))
        combined = prompt if draft is None else draft[0].extended(prompt)
        combined.validate(image.shape[1], image.shape[0])
        result = self.segmenter.segment(image, combined, None if draft is None else draft[1])
        labels = self.labels(frame)
        labels[labels == object_id] = 0
        labels[result.mask] = object_id
        self.record.record_prompt(frame, object_id, combined, result, labels)
        return PromptOutcome(object_id, result, labels)

    def set_labels(self, frame: int, labels: np.ndarray, source: str = "mask") -> list[int]:
        """Annotate ``frame`` with a whole (H, W) label map; returns the ids it holds."""
        self.video.check_index(frame)
        size = (self.video.info.height, self.video.info.width)
        if labels.shape != size:
            raise ValueError(f"mask is {labels.shape[1] if labels.ndim > 1 else '?'}x"
                             f"{labels.shape[0]}, the video {size[1]}x{size[0]}")
        return self.record.record_labels(frame, labels, source)

    def segment_everything(self, frame: int) -> list[int]:
        """Add every object SAM finds on ``frame`` that is not already labelled there."""
        segments = self.segmenter.segment_everything(self.frame(frame), self.min_area)
        _, ids = self.record.add_new_objects(frame, self.labels(frame), segments,
                                             self.min_area, "everything", self.segmenter.name,
                                             by_user=True)
        return ids

    def find(self, frame: int, text: str) -> list[int]:
        """Add every object ``text`` names on ``frame`` (phrases such as ``"person .
        bicycle"``) that is not already labelled there: the detector's boxes, each
        segmented as a box prompt; returns the new ids (:attr:`categories` names them)."""
        _, ids = self._add_text_objects(frame, self.frame(frame), self.labels(frame), text,
                                        "text", by_user=True)
        return ids

    def find_new_objects(self, frame: int, image: np.ndarray, labels: np.ndarray,
                         source: str, by_user: bool) -> tuple[np.ndarray, list[int]]:
        """Discovery on ``frame`` ((H, W, 3) ``image``) while tracking: find what
        :attr:`text` names if set, else everything the segmenter finds, and annotate what is
        new against its (H, W) ``labels`` as new objects; the merged labels and the new ids
        (see :meth:`AnnotationRecord.add_new_objects`)."""
        if self.text is not None:
            return self._add_text_objects(frame, image, labels, self.text, source, by_user)
        segments = self.segmenter.segment_everything(image, self.min_area)
        return self.record.add_new_objects(frame, labels, segments, self.min_area, source,
                                           self.segmenter.name, by_user)

    def _add_text_objects(self, frame: int, image: np.ndarray, labels: np.ndarray,
                          text: str, source: str, by_user: bool
                          ) -> tuple[np.ndarray, list[int]]:
        """:meth:`find_new_objects` for the boxes ``text`` names."""
        self.video.check_index(frame)
        if self.detector is None:
            raise ValueError(MISSING_DETECTOR)
        detections = self.detector.detect(image, text, self.text_config)
        masks = segment_detections(self.segmenter, image, detections)
        merged, ids = self.record.add_new_objects(frame, labels, masks, self.min_area, source,
                                                  self.segmenter.name, by_user)
        self.categories.update(name_objects(merged, ids, masks, detections))
        return merged, ids

    def remove_object(self, object_id: int) -> None:
        """Remove an object from every annotation and result; its id is not reused."""
        self.record.remove_object(object_id)

    def undo(self) -> bool:
        """Revert the last edit; ``False`` if there is none."""
        return self.record.undo()

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
        """:meth:`track` as a generator of propagation steps (see :mod:`tracker.stepping`),
        so that several videos can be tracked with their steps batched together."""
        return run_tracking(self, start, direction, on_progress, should_stop)
