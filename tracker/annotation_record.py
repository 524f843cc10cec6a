"""What the user has said about a video: its objects, the frames they annotated, the prompts
behind each mask, the ids removed, with undo.

:class:`AnnotationRecord` knows nothing of segmenters, models or files; the
:class:`~tracker.tracker.Tracker` segments prompts and tracks, and writes what it learns here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from aot import MAX_OBJECT_ID
from tracker.discovery import find_new_objects
from tracker.segmenter import Prompt, SegmentResult
from tracker.tracking_records import Annotation, TrackedObject

#: (frame, object id) -> the prompt so far and the mask it made.
Drafts = dict[tuple[int, int], tuple[Prompt, SegmentResult]]


@dataclass
class _State:
    objects: dict[int, TrackedObject]
    annotations: dict[int, Annotation]
    drafts: Drafts
    removed: set[int]
    next_id: int
    last_edit: int | None

    def copy(self) -> _State:
        return _State(dict(self.objects), dict(self.annotations), dict(self.drafts),
                      set(self.removed), self.next_id, self.last_edit)


class AnnotationRecord:
    """The objects and annotations of one video. Every edit can be undone, except those
    made while tracking (objects discovered), which are not the user's."""

    def __init__(self) -> None:
        self._state = _State({}, {}, {}, set(), 1, None)
        self._history: list[_State] = []

    @property
    def objects(self) -> dict[int, TrackedObject]:
        return dict(self._state.objects)

    @property
    def annotations(self) -> dict[int, Annotation]:
        return dict(self._state.annotations)

    @property
    def drafts(self) -> Drafts:
        """The prompt and mask of each object on each frame it was prompted on."""
        return dict(self._state.drafts)

    @property
    def removed(self) -> frozenset[int]:
        """Ids of removed objects, never reused."""
        return frozenset(self._state.removed)

    @property
    def next_id(self) -> int:
        """The id :meth:`new_object` gives next."""
        return self._state.next_id

    @property
    def last_edit(self) -> int | None:
        """The frame the user annotated last."""
        return self._state.last_edit

    def check_new_id(self, object_id: int) -> None:
        """Raise ``ValueError`` unless ``object_id`` may be prompted (in range, not removed)."""
        if not 1 <= object_id <= MAX_OBJECT_ID:
            raise ValueError(f"object ids lie in 1..{MAX_OBJECT_ID}, got {object_id}")
        if object_id in self._state.removed:
            raise ValueError(f"object {object_id} was removed; ids are never reused")

    def without_removed(self, labels: np.ndarray) -> np.ndarray:
        """(H, W) labels with removed objects' pixels set to 0, as uint8."""
        if self._state.removed:
            labels = np.where(np.isin(labels, list(self._state.removed)), 0, labels)
        return labels.astype(np.uint8)

    def new_object(self) -> int:
        """Reserve the next object id (the largest id so far + 1; ids are never reused)."""
        if self._state.next_id > MAX_OBJECT_ID:
            raise ValueError(f"a video holds at most {MAX_OBJECT_ID} objects")
        state = self._edit()
        state.next_id += 1
        return state.next_id - 1

    def record_prompt(self, frame: int, object_id: int, prompt: Prompt, result: SegmentResult,
                      labels: np.ndarray) -> None:
        """The user prompted ``object_id`` on ``frame`` (``prompt``: all its clicks there so
        far), which made ``result`` and the frame's new (H, W) ``labels``."""
        state = self._edit()
        state.drafts[(frame, object_id)] = (prompt, result)
        self._annotate(state, frame, labels, {object_id}, "prompt", result.segmenter)

    def record_labels(self, frame: int, labels: np.ndarray, source: str) -> list[int]:
        """The user gave ``frame``'s whole (H, W) label map; the ids it holds."""
        ids = [int(i) for i in np.unique(labels) if i]
        if not ids:
            raise ValueError("the mask holds no object (all pixels are 0)")
        if max(ids) > MAX_OBJECT_ID:
            raise ValueError(f"object ids must lie in 1..{MAX_OBJECT_ID}")
        reused = sorted(set(ids) & self._state.removed)
        if reused:
            raise ValueError(f"ids {reused} belong to removed objects; ids are never reused")
        self._annotate(self._edit(), frame, labels.astype(np.uint8), set(ids), source, None)
        return ids

    def add_new_objects(self, frame: int, labels: np.ndarray, segments: list[np.ndarray],
                        min_area: int, source: str, segmenter: str, by_user: bool
                        ) -> tuple[np.ndarray, list[int]]:
        """Annotate ``frame`` with the ``segments`` ((H, W) bool masks) that are new against
        its (H, W) ``labels`` as new objects. ``by_user``: the user asked (undoable), not a
        tracking run.

        Returns:
            The merged (H, W) uint8 labels (``labels`` itself when nothing is new) and the
            new ids.
        """
        new, ids = find_new_objects(labels, segments, self._state.next_id, min_area,
                                    MAX_OBJECT_ID)
        if not ids:
            return labels, []
        merged = np.where(new > 0, new, labels).astype(np.uint8)
        state = self._edit() if by_user else self._state
        self._annotate(state, frame, merged, set(ids), source, segmenter, by_user)
        return merged, ids

    def remove_object(self, object_id: int) -> None:
        """Remove an object from every annotation and draft; its id is not reused."""
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

    def _edit(self) -> _State:
        self._history.append(self._state.copy())
        return self._state

    @staticmethod
    def _annotate(state: _State, frame: int, labels: np.ndarray, ids: set[int], source: str,
                  segmenter: str | None, by_user: bool = True) -> None:
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
