"""Text files of the MOT Challenge: MOT boxes and MOTS masks.

* ``mot``: one line per frame and object, ``frame,id,x,y,w,h,conf,-1,-1,-1`` (MOT15/16
  results layout, conf 1). Boxes only. As in the MOT Challenge (a Matlab convention, which
  its devkit and py-motmetrics follow), frames and pixel coordinates count from 1: ``x, y``
  is the box's top-left pixel plus one.
* ``mots``: one line per frame and object, ``frame id class_id img_h img_w rle`` with
  ``id = class_id * 1000 + object id`` and ``rle`` COCO's compressed counts (MOTSChallenge,
  frames 1-based; KITTI MOTS numbers them from 0: :class:`MotsConfig`). Class 10 marks
  ignore regions, which are skipped when reading.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracker.atomic import write_bytes
from tracker.formats.rle import decode_rle, encode_rle
from tracker.formats.tracks import (
    FormatError,
    FrameAnnotation,
    KeyframeAnnotations,
    ReadOptions,
    VideoTracks,
    assign_ids,
    object_boxes,
    paint,
)

#: The class of MOTS ignore regions (id 10000).
MOTS_IGNORE_CLASS = 10


@dataclass(frozen=True)
class MotsConfig:
    """How categories and frames map to MOTS numbers.

    Attributes:
        first_frame: the number of frame 0 (1 for MOTSChallenge, 0 for KITTI MOTS).
        classes: category names of class ids 1, 2, ...; other categories get the next free
            ids in order of first appearance (never 10, MOTS's ignore class), and class ids
            beyond these read as ``"class N"``.
    """

    first_frame: int = 1
    classes: tuple[str, ...] = ("car", "pedestrian")


def _read_lines(path: Path) -> list[list[str]]:
    """The fields of every non-empty line, split at commas and whitespace."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise FormatError(f"{path.name}: not a readable text file ({error})") from error
    return [line.replace(",", " ").split() for line in text.splitlines() if line.strip()]


def write_mot(tracks: VideoTracks, path: Path) -> None:
    """MOT boxes, one line per frame and object."""
    lines = []
    for index, labels in tracks.frames():
        for object_id, (x0, y0, x1, y1) in object_boxes(labels).items():
            lines.append(f"{index + 1},{object_id},{x0 + 1},{y0 + 1},{x1 - x0},{y1 - y0},"
                         "1,-1,-1,-1\n")
    write_bytes(path, "".join(lines).encode())


def read_mot(path: Path, options: ReadOptions = ReadOptions()) -> KeyframeAnnotations:
    """MOT boxes: frame, id, x, y, w, h and any further columns."""
    rows = []
    for n, fields in enumerate(_read_lines(path), 1):
        try:
            frame, track = int(float(fields[0])), int(float(fields[1]))
            x, y, w, h = (float(v) for v in fields[2:6])
            x, y = x - 1, y - 1
        except (ValueError, IndexError) as error:
            raise FormatError(f"{path.name}: line {n} is not frame,id,x,y,w,h,... "
                              f"({error})") from error
        if frame < 1:
            raise FormatError(f"{path.name}: line {n}: MOT frames start at 1, got {frame}")
        rows.append((frame - 1, track, (x, y, x + w, y + h)))
    ids = assign_ids((track for _, track, _ in rows), path.name)
    boxes: dict[int, dict] = defaultdict(dict)
    for index, track, box in rows:
        boxes[index][ids[track]] = box
    frames = {i: FrameAnnotation(boxes=b) for i, b in sorted(boxes.items())}
    return KeyframeAnnotations("mot", path.stem, None, None,
                               max(frames) + 1 if frames else None, None, frames)


def _class_ids(config: MotsConfig) -> dict[str, int]:
    """Category name -> MOTS class id, of the configured classes."""
    return {name: n for n, name in enumerate(config.classes, 1)}


def write_mots(tracks: VideoTracks, path: Path, config: MotsConfig = MotsConfig()) -> None:
    """MOTS masks, one line per frame and object."""
    classes = _class_ids(config)
    lines = []
    for index, labels in tracks.frames():
        for object_id in (int(i) for i in np.unique(labels) if i):
            name = tracks.category(object_id)
            if name not in classes:
                free = max(classes.values(), default=0) + 1
                classes[name] = free + (free == MOTS_IGNORE_CLASS)
            class_id = classes[name]
            rle = encode_rle(labels == object_id)
            lines.append(f"{index + config.first_frame} {class_id * 1000 + object_id} "
                         f"{class_id} {tracks.height} {tracks.width} {rle['counts']}\n")
    write_bytes(path, "".join(lines).encode())


def read_mots(path: Path, options: ReadOptions = ReadOptions(),
              config: MotsConfig = MotsConfig()) -> KeyframeAnnotations:
    """MOTS masks; an object's id is its MOTS id modulo 1000 when those are distinct."""
    rows, size = [], None
    for n, fields in enumerate(_read_lines(path), 1):
        try:
            frame, track, class_id, height, width = (int(v) for v in fields[:5])
            counts = fields[5]
        except (ValueError, IndexError) as error:
            raise FormatError(f"{path.name}: line {n} is not 'frame id class_id img_h img_w "
                              f"rle' ({error})") from error
        if class_id == MOTS_IGNORE_CLASS:
            continue
        if frame < config.first_frame:
            raise FormatError(f"{path.name}: line {n}: frames start at {config.first_frame}, "
                              f"got {frame}")
        if size not in (None, (width, height)):
            raise FormatError(f"{path.name}: line {n} is {width}x{height}, earlier lines "
                              f"{size[0]}x{size[1]}")
        size = (width, height)
        rows.append((frame - config.first_frame, track, class_id, counts))
    if size is None:
        raise FormatError(f"{path.name}: holds no MOTS object line")
    tracks = list(dict.fromkeys(track for _, track, _, _ in rows))
    instances = {track: track % 1000 for track in tracks}
    ids = instances if len(set(instances.values())) == len(tracks) and all(
        1 <= i <= 255 for i in instances.values()) else assign_ids(tracks, path.name)
    names = {n: name for name, n in _class_ids(config).items()}
    masks: dict[int, list] = defaultdict(list)
    categories = {}
    for index, track, class_id, counts in rows:
        masks[index].append((ids[track], decode_rle({"size": [size[1], size[0]],
                                                     "counts": counts})))
        categories.setdefault(ids[track], names.get(class_id, f"class {class_id}"))
    frames = {i: FrameAnnotation(paint(m, size[1], size[0])) for i, m in sorted(masks.items())}
    return KeyframeAnnotations("mots", path.stem, size[0], size[1], max(frames) + 1, None,
                               frames, categories)
