"""JSON with COCO RLE masks: ClickTrack's COCO video file and YouTube-VIS.

* ``coco`` (``annotations.json``): COCO with one image per frame (``frame_index``) and one
  annotation per frame and object: RLE ``segmentation``, ``bbox`` (x, y, w, h), ``area``
  and ``track_id`` (the object id). Written as a stream, one frame at a time.
* ``ytvis``: YouTube-VIS: ``videos`` (``length``, ``file_names``), ``categories`` and one
  annotation per object whose ``segmentations``, ``bboxes`` and ``areas`` hold one entry per
  frame (``null`` where the object is absent).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from tracker.atomic import atomic_path, write_bytes
from tracker.formats.rle import decode_polygons, decode_rle, encode_rle
from tracker.formats.tracks import (
    DEFAULT_CATEGORY,
    FormatError,
    FrameAnnotation,
    KeyframeAnnotations,
    ReadOptions,
    VideoTracks,
    assign_ids,
    category_ids,
    object_boxes,
    paint,
)


def load_json(path: Path) -> Any:
    """A JSON file's document, or :class:`FormatError`."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise FormatError(f"{path.name}: not readable JSON ({error})") from error


def _categories_list(ids: dict[str, int]) -> list[dict]:
    """COCO ``categories`` of name -> id (the default category when none is used)."""
    ids = ids or {DEFAULT_CATEGORY: 1}
    return [{"id": i, "name": name, "supercategory": "object"} for name, i in ids.items()]


def write_coco(tracks: VideoTracks, path: Path) -> None:
    """``annotations.json``: COCO, one annotation per frame and object (streamed)."""
    head = {"info": {"description": f"ClickTrack results for {tracks.name}",
                     "video": tracks.name, "fps": float(tracks.fps),
                     "num_frames": tracks.num_frames},
            "images": [{"id": i + 1, "file_name": f"{i:05d}.png", "frame_index": i,
                        "width": tracks.width, "height": tracks.height}
                       for i in range(tracks.num_frames)]}
    categories: dict[str, int] = {}
    annotation_id = 0
    with atomic_path(path) as temporary, temporary.open("w") as stream:
        stream.write(json.dumps(head)[:-1] + ', "annotations": [\n')
        for index, labels in tracks.frames():
            for object_id, (x0, y0, x1, y1) in object_boxes(labels).items():
                mask = labels == object_id
                name = tracks.category(object_id)
                annotation_id += 1
                record = {"id": annotation_id, "image_id": index + 1,
                          "category_id": categories.setdefault(name, len(categories) + 1),
                          "track_id": object_id, "segmentation": encode_rle(mask),
                          "area": int(mask.sum()), "bbox": [x0, y0, x1 - x0, y1 - y0],
                          "iscrowd": 0}
                stream.write(("" if annotation_id == 1 else ",\n") + json.dumps(record))
        stream.write('\n], "categories": ' + json.dumps(_categories_list(categories)) + "}\n")


def _shape(annotation: dict, field: str, height: int, width: int
           ) -> tuple[np.ndarray | None, tuple[float, float, float, float] | None]:
    """An annotation's mask (from RLE or polygons) or, lacking one, its box."""
    segmentation = annotation.get(field)
    if isinstance(segmentation, dict):
        return decode_rle(segmentation), None
    if isinstance(segmentation, list) and segmentation:
        return decode_polygons(segmentation, height, width), None
    bbox = annotation.get("bbox")
    if bbox:
        x, y, w, h = (float(v) for v in bbox)
        return None, (x, y, x + w, y + h)
    return None, None


def _frames(entries: dict[int, list[tuple[Any, np.ndarray | None, Any]]], ids: dict[Any, int],
            height: int, width: int) -> dict[int, FrameAnnotation]:
    """Frame index -> annotation, from (track, mask or None, box or None) per frame."""
    frames = {}
    for index, shapes in sorted(entries.items()):
        masks = [(ids[t], m) for t, m, _ in shapes if m is not None]
        boxes = {ids[t]: b for t, m, b in shapes if m is None and b is not None}
        frames[index] = FrameAnnotation(paint(masks, height, width) if masks else None, boxes)
    return frames


def read_coco(path: Path, options: ReadOptions = ReadOptions()) -> KeyframeAnnotations:
    """A COCO video file: images are frames (``frame_index``, else in id order) and each
    annotation's ``track_id`` is its object."""
    document = load_json(path)
    try:
        images = sorted(document["images"], key=lambda image: image["id"])
        frame_of = {image["id"]: int(image.get("frame_index", n))
                    for n, image in enumerate(images)}
        width, height = int(images[0]["width"]), int(images[0]["height"])
        names = {c["id"]: str(c["name"]) for c in document.get("categories", [])}
        annotations = document["annotations"]
        if any("track_id" not in a for a in annotations):
            raise FormatError(f"{path.name}: a COCO annotation without track_id cannot be "
                              "told apart from another object's")
        ids = assign_ids((a["track_id"] for a in annotations), path.name)
        entries: dict[int, list] = defaultdict(list)
        categories = {}
        for annotation in annotations:
            mask, box = _shape(annotation, "segmentation", height, width)
            entries[frame_of[annotation["image_id"]]].append((annotation["track_id"], mask, box))
            categories.setdefault(ids[annotation["track_id"]],
                                  names.get(annotation.get("category_id"), DEFAULT_CATEGORY))
    except (KeyError, TypeError, IndexError, ValueError) as error:
        if isinstance(error, FormatError):
            raise
        raise FormatError(f"{path.name}: not a COCO video file ({error!r})") from error
    info = document.get("info") or {}
    return KeyframeAnnotations("coco", str(info.get("video") or path.stem), width, height,
                               int(info.get("num_frames") or len(images)),
                               float(info["fps"]) if info.get("fps") else None,
                               _frames(entries, ids, height, width), categories)


def write_ytvis(tracks: VideoTracks, path: Path) -> None:
    """YouTube-VIS JSON of one video: one annotation per object, one entry per frame."""
    count = tracks.num_frames
    objects: dict[int, dict[str, list]] = {}
    for index, labels in tracks.frames():
        for object_id, (x0, y0, x1, y1) in object_boxes(labels).items():
            entry = objects.setdefault(object_id, {key: [None] * count for key in
                                                   ("segmentations", "bboxes", "areas")})
            mask = labels == object_id
            entry["segmentations"][index] = encode_rle(mask)
            entry["bboxes"][index] = [x0, y0, x1 - x0, y1 - y0]
            entry["areas"][index] = int(mask.sum())
    categories = category_ids(tracks.category(i) for i in sorted(objects))
    document = {
        "info": {"description": f"ClickTrack results for {tracks.name}",
                 "fps": float(tracks.fps)},
        "videos": [{"id": 1, "name": tracks.name, "width": tracks.width,
                    "height": tracks.height, "length": count,
                    "file_names": [f"{tracks.name}/{i:05d}.jpg" for i in range(count)]}],
        "categories": _categories_list(categories),
        "annotations": [{"id": i, "video_id": 1, "category_id": categories[tracks.category(i)],
                         "iscrowd": 0, "width": tracks.width, "height": tracks.height,
                         **entry} for i, entry in sorted(objects.items())],
    }
    write_bytes(path, json.dumps(document).encode())


def _video_name(video: dict) -> str:
    """A YouTube-VIS video's name: ours, else the folder of its frames."""
    if video.get("name"):
        return str(video["name"])
    names = video.get("file_names") or []
    return Path(names[0]).parent.name if names else str(video["id"])


def read_ytvis(path: Path, options: ReadOptions = ReadOptions()) -> KeyframeAnnotations:
    """One video of a YouTube-VIS file (the one named, or its only one)."""
    document = load_json(path)
    try:
        videos = document["videos"]
        chosen = [v for v in videos if _video_name(v) == options.video] or videos
        if len(chosen) != 1:
            raise FormatError(f"{path.name}: holds {len(videos)} videos; name one")
        video = chosen[0]
        width, height = int(video["width"]), int(video["height"])
        names = {c["id"]: str(c["name"]) for c in document.get("categories", [])}
        annotations = [a for a in document["annotations"] if a["video_id"] == video["id"]]
        ids = assign_ids((a["id"] for a in annotations), path.name)
        entries: dict[int, list] = defaultdict(list)
        for annotation in annotations:
            segmentations = annotation.get("segmentations") or []
            bboxes = annotation.get("bboxes") or []
            for index in range(max(len(segmentations), len(bboxes))):
                shape = {"segmentation": segmentations[index] if index < len(segmentations)
                         else None, "bbox": bboxes[index] if index < len(bboxes) else None}
                mask, box = _shape(shape, "segmentation", height, width)
                if mask is not None or box is not None:
                    entries[index].append((annotation["id"], mask, box))
        categories = {ids[a["id"]]: names.get(a.get("category_id"), DEFAULT_CATEGORY)
                      for a in annotations}
    except (KeyError, TypeError, IndexError, ValueError) as error:
        if isinstance(error, FormatError):
            raise
        raise FormatError(f"{path.name}: not a YouTube-VIS file ({error!r})") from error
    info = document.get("info") or {}
    return KeyframeAnnotations("ytvis", _video_name(video), width, height,
                               int(video.get("length") or len(video.get("file_names", []))),
                               float(info["fps"]) if info.get("fps") else None,
                               _frames(entries, ids, height, width), categories)
