"""``objects.json``: per object, the frames it is on and its box on each.

    {"video": ..., "fps": ..., "width": ..., "height": ..., "num_frames": ...,
     "box_format": "x0, y0, x1, y1 (pixels, x1 and y1 exclusive)",
     "objects": [{"id": 1, <extra fields>, "num_frames": 2, "frames": [0, 1],
                  "boxes": [[x0, y0, x1, y1], ...]}]}

The extra fields are the tracks' ``attributes`` (how each object was made) and, when one
was given, its ``category``. Boxes only when read back.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from tracker.atomic import write_json
from tracker.formats.coco import load_json
from tracker.formats.tracks import (
    FormatError,
    FrameAnnotation,
    KeyframeAnnotations,
    ReadOptions,
    VideoTracks,
    assign_ids,
    object_boxes,
)

BOX_FORMAT = "x0, y0, x1, y1 (pixels, x1 and y1 exclusive)"


def write_objects(tracks: VideoTracks, path: Path) -> None:
    """``objects.json`` of the tracks (objects with attributes but no mask included)."""
    frames: dict[int, list[int]] = defaultdict(list)
    boxes: dict[int, list[list[int]]] = defaultdict(list)
    for index, labels in tracks.frames():
        for object_id, box in object_boxes(labels).items():
            frames[object_id].append(index)
            boxes[object_id].append(list(box))
    objects = []
    for object_id in sorted(set(frames) | set(tracks.attributes)):
        named = {"category": tracks.categories[object_id]} \
            if object_id in tracks.categories else {}
        objects.append({"id": object_id, **named, **tracks.attributes.get(object_id, {}),
                        "num_frames": len(frames[object_id]), "frames": frames[object_id],
                        "boxes": boxes[object_id]})
    write_json(path, {"video": tracks.name, "fps": float(tracks.fps), "width": tracks.width,
                      "height": tracks.height, "num_frames": tracks.num_frames,
                      "box_format": BOX_FORMAT, "objects": objects})


def read_objects(path: Path, options: ReadOptions = ReadOptions()) -> KeyframeAnnotations:
    """``objects.json``: each object's box on each frame it is on."""
    document = load_json(path)
    try:
        entries = document["objects"]
        ids = assign_ids((entry["id"] for entry in entries), path.name)
        frames: dict[int, dict] = defaultdict(dict)
        for entry in entries:
            for index, box in zip(entry["frames"], entry["boxes"], strict=True):
                frames[int(index)][ids[entry["id"]]] = tuple(float(v) for v in box)
        categories = {ids[e["id"]]: str(e["category"]) for e in entries if e.get("category")}
        return KeyframeAnnotations(
            "objects", str(document.get("video") or path.parent.name),
            document.get("width"), document.get("height"), document.get("num_frames"),
            document.get("fps"), {i: FrameAnnotation(boxes=b) for i, b in sorted(frames.items())},
            categories)
    except (KeyError, TypeError, ValueError) as error:
        raise FormatError(f"{path.name}: not an objects.json ({error!r})") from error
