"""The model every format writes from and reads into.

* :class:`VideoTracks`: a tracked video, what the writers take. Its (H, W) uint8 label maps
  (pixel value = object id, 0 = background) are read one frame at a time, so a long video is
  never held in memory while it is exported.
* :class:`KeyframeAnnotations`: what an annotation file says, what the readers give. Per
  frame index, an (H, W) label map of the objects given as masks and/or a box per object
  given as a box only (MOT, Label Studio, CVAT boxes).

Boxes are ``(x0, y0, x1, y1)`` in pixels, ``x1`` and ``y1`` exclusive, as everywhere in
ClickTrack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tracker.masks import MaskStore
from tracker.video import VideoInfo

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]
#: The category of an object no one named.
DEFAULT_CATEGORY = "object"
#: Label maps are uint8: object ids lie in 1..255.
MAX_OBJECT_ID = 255
#: The frame rate assumed when a file records none.
DEFAULT_FPS = 25.0


class FormatError(ValueError):
    """A file or folder that does not follow the format it claims (or any format)."""


@dataclass(frozen=True)
class ReadOptions:
    """What a reader may need beyond the file.

    Attributes:
        video: which video to read from a file or folder that holds several (by name); a
            file of one video is read whatever its name.
        size: the frame size ``(width, height)``, for formats that record none but give
            coordinates relative to it (Label Studio's percentages).
    """

    video: str | None = None
    size: tuple[int, int] | None = None


@dataclass(frozen=True)
class VideoTracks:
    """A tracked video's label maps, read lazily, and its objects' names.

    Attributes:
        name: the video's name (a file stem or folder name).
        width, height: the frame size in pixels.
        fps: frames per second.
        num_frames: the number of frames.
        read_labels: frame index -> its (H, W) uint8 ids, or ``None`` when not stored.
        categories: object id -> category name (default :data:`DEFAULT_CATEGORY`).
        attributes: object id -> extra fields that ``objects.json`` records (source,
            segmenter, ...).
    """

    name: str
    width: int
    height: int
    fps: float
    num_frames: int
    read_labels: Callable[[int], np.ndarray | None]
    categories: Mapping[int, str] = field(default_factory=dict)
    attributes: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_store(cls, name: str, info: VideoInfo, store: MaskStore,
                   categories: Mapping[int, str] | None = None,
                   attributes: Mapping[int, Mapping[str, Any]] | None = None) -> VideoTracks:
        """The label maps in a :class:`~tracker.masks.MaskStore` of a video described by
        ``info``; frames without a stored map count as empty."""
        return cls(name, info.width, info.height, float(info.fps), info.num_frames,
                   store.read, dict(categories or {}), dict(attributes or {}))

    @classmethod
    def from_labels(cls, name: str, labels: Mapping[int, np.ndarray], fps: float,
                    num_frames: int | None = None,
                    categories: Mapping[int, str] | None = None) -> VideoTracks:
        """Label maps held in memory: frame index -> (H, W) uint8 ids (at least one)."""
        if not labels:
            raise ValueError("no label map given")
        height, width = next(iter(labels.values())).shape
        count = num_frames if num_frames is not None else max(labels) + 1
        return cls(name, width, height, fps, count, labels.get, dict(categories or {}))

    def labels(self, index: int) -> np.ndarray:
        """Frame ``index``'s (H, W) uint8 ids (all 0 when nothing is stored)."""
        labels = self.read_labels(index)
        if labels is None:
            return np.zeros((self.height, self.width), np.uint8)
        if labels.shape != (self.height, self.width):
            raise ValueError(f"{self.name}: frame {index} is {labels.shape[1]}x"
                             f"{labels.shape[0]}, the video {self.width}x{self.height}")
        return labels

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """(index, (H, W) uint8 ids) for every frame, in order, one at a time."""
        for index in range(self.num_frames):
            yield index, self.labels(index)

    def category(self, object_id: int) -> str:
        """The category name of ``object_id``."""
        return self.categories.get(object_id, DEFAULT_CATEGORY)


@dataclass(frozen=True)
class FrameAnnotation:
    """What a file says about one frame.

    Attributes:
        labels: (H, W) uint8 ids of the objects given as masks (or polygons), or ``None``.
        boxes: object id -> box, for the objects given as a box only.
        interpolated: ids whose shape the annotation tool interpolated between keyframes
            rather than a person drew on this frame.
    """

    labels: np.ndarray | None = None
    boxes: Mapping[int, Box] = field(default_factory=dict)
    interpolated: frozenset[int] = frozenset()

    def ids(self) -> set[int]:
        """The ids of every object on the frame, as a mask or a box."""
        ids = set(self.boxes)
        if self.labels is not None:
            ids |= {int(i) for i in np.unique(self.labels) if i}
        return ids


@dataclass(frozen=True)
class KeyframeAnnotations:
    """An annotation file read back.

    Attributes:
        format: the name of the format it was read as (see :data:`tracker.formats.FORMATS`).
        name: the video's name, as the file records it (else the file's).
        width, height: the frame size, or ``None`` when the file records none.
        num_frames: the number of frames, or ``None`` when unknown.
        fps: frames per second, or ``None`` when the file records none.
        frames: frame index (0-based) -> what the file says about it; frames it says
            nothing about are absent.
        categories: object id -> category name.
    """

    format: str
    name: str
    width: int | None
    height: int | None
    num_frames: int | None
    fps: float | None
    frames: Mapping[int, FrameAnnotation]
    categories: Mapping[int, str] = field(default_factory=dict)

    @property
    def has_boxes(self) -> bool:
        """Whether any object is given by a box only."""
        return any(frame.boxes for frame in self.frames.values())

    def object_ids(self) -> list[int]:
        """The ids of every object the file holds, ascending."""
        return sorted(set().union(*(frame.ids() for frame in self.frames.values())))

    def labels(self, index: int) -> np.ndarray:
        """Frame ``index``'s (H, W) uint8 ids of the objects given as masks (0 elsewhere)."""
        if self.width is None or self.height is None:
            raise FormatError(f"{self.name}: the file records no frame size")
        frame = self.frames.get(index)
        if frame is None or frame.labels is None:
            return np.zeros((self.height, self.width), np.uint8)
        return frame.labels

    def boxes(self, index: int) -> dict[int, Box]:
        """Object id -> box on frame ``index``: the boxes given, and those of the masks."""
        frame = self.frames.get(index, FrameAnnotation())
        boxes: dict[int, Box] = {} if frame.labels is None else dict(object_boxes(frame.labels))
        boxes.update(frame.boxes)
        return boxes

    def keyframes(self) -> KeyframeAnnotations:
        """Only what people drew: interpolated shapes and frames left empty dropped."""
        kept = {}
        for index, frame in self.frames.items():
            labels, boxes = frame.labels, dict(frame.boxes)
            if frame.interpolated:
                if labels is not None:
                    labels = np.where(np.isin(labels, list(frame.interpolated)), 0,
                                      labels).astype(np.uint8)
                boxes = {i: b for i, b in boxes.items() if i not in frame.interpolated}
            if labels is not None and not labels.any():
                labels = None
            if labels is not None or boxes:
                kept[index] = FrameAnnotation(labels, boxes)
        return replace(self, frames=kept)

    def to_tracks(self) -> VideoTracks:
        """The masks as :class:`VideoTracks`, to write in another format.

        Raises:
            FormatError: the file gives some object by a box only, or records no size.
        """
        if self.has_boxes:
            raise FormatError(f"{self.name}: {self.format} gives boxes, not masks")
        if self.width is None or self.height is None:
            raise FormatError(f"{self.name}: the file records no frame size")
        count = self.num_frames if self.num_frames is not None else max(self.frames, default=-1) + 1
        labels = {i: f.labels for i, f in self.frames.items() if f.labels is not None}
        return VideoTracks(self.name, self.width, self.height, self.fps or DEFAULT_FPS, count,
                           labels.get, dict(self.categories))


def object_boxes(labels: np.ndarray) -> dict[int, tuple[int, int, int, int]]:
    """Object id -> its (x0, y0, x1, y1) integer box in (H, W) ``labels`` (ascending ids)."""
    boxes = {}
    for object_id in np.unique(labels):
        if not object_id:
            continue
        mask = labels == object_id
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        boxes[int(object_id)] = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1,
                                 int(rows[-1]) + 1)
    return boxes


def assign_ids(raw_ids: Iterable[Any], source: str) -> dict[Any, int]:
    """Object ids for a file's own track ids: kept when they are all integers in
    1..:data:`MAX_OBJECT_ID`, else 1, 2, ... in the order given (logged).

    Raises:
        FormatError: more tracks than a label map can hold.
    """
    raw = list(dict.fromkeys(raw_ids))
    if all(isinstance(i, int) and 1 <= i <= MAX_OBJECT_ID for i in raw):
        return {i: i for i in raw}
    if len(raw) > MAX_OBJECT_ID:
        raise FormatError(f"{source}: {len(raw)} tracks; a video holds at most "
                          f"{MAX_OBJECT_ID} objects")
    logger.info("%s: track ids renumbered 1..%d (object ids lie in 1..%d)", source, len(raw),
                MAX_OBJECT_ID)
    return {i: n for n, i in enumerate(raw, 1)}


def paint(masks: Iterable[tuple[int, np.ndarray]], height: int, width: int) -> np.ndarray:
    """(H, W) uint8 ids from (object id, (H, W) bool mask) pairs; later masks cover
    earlier ones where they overlap."""
    labels = np.zeros((height, width), np.uint8)
    for object_id, mask in masks:
        labels[mask] = object_id
    return labels


def category_ids(names: Iterable[str]) -> dict[str, int]:
    """Category name -> id 1, 2, ... in order of first appearance."""
    return {name: n for n, name in enumerate(dict.fromkeys(names), 1)}
