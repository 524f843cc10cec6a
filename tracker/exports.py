"""Exports of a tracked video, built by streaming over its frames and stored masks.

Into the output folder:

* ``overlay.mp4``: coloured masks, outlines and ids over the frames (H.264, yuv420p);
* ``masks/00000.png ...``: palette PNGs of object ids (written while tracking);
* ``annotations.json``: COCO, one annotation per frame and object with RLE segmentation,
  bbox, area and ``track_id``;
* ``objects.json``: per object, the frames it is present in and its box in each.

Every file is written atomically.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from tracker.atomic import atomic_path, write_json
from tracker.masks import MaskStore
from tracker.overlay import draw_overlay
from tracker.video import FrameSource
from tracker.video_writer import H264Writer

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]


@dataclass
class _ObjectTrack:
    frames: list[int] = field(default_factory=list)
    boxes: list[list[int]] = field(default_factory=list)


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE (compressed counts as text) of an (H, W) bool mask."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    """(H, W) bool mask of a COCO RLE from :func:`encode_rle`."""
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}) > 0


def _frames_with_labels(video: FrameSource, masks: MaskStore
                        ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    height, width = video.info.height, video.info.width
    for index, image in video.frames():
        labels = masks.read(index)
        yield index, image, np.zeros((height, width), np.uint8) if labels is None else labels


def export_results(video: FrameSource, masks: MaskStore, out_dir: str | Path,
                   objects: dict[int, dict] | None = None,
                   on_progress: ProgressCallback | None = None) -> dict[str, Path]:
    """Write overlay.mp4, annotations.json and objects.json for a tracked video.

    Args:
        video: the frames.
        masks: the stored label maps (frames without one count as empty).
        out_dir: destination folder.
        objects: extra per-object fields for objects.json (e.g. source, segmenter).
        on_progress: called with (frames done, total frames).

    Returns:
        name -> path of every file written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = video.info
    tracks: dict[int, _ObjectTrack] = {}
    paths = {"overlay": out_dir / "overlay.mp4", "annotations": out_dir / "annotations.json",
             "objects": out_dir / "objects.json"}
    with H264Writer(paths["overlay"], info.fps, (info.width, info.height)) as writer, \
            atomic_path(paths["annotations"]) as coco_path, coco_path.open("w") as coco:
        _write_coco_head(coco, video)
        annotation_id = 0
        for index, image, labels in _frames_with_labels(video, masks):
            writer.write(draw_overlay(image, labels))
            for object_id in (int(i) for i in np.unique(labels) if i):
                mask = labels == object_id
                ys, xs = np.nonzero(mask)
                x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
                annotation_id += 1
                record = {"id": annotation_id, "image_id": index + 1, "category_id": 1,
                          "track_id": object_id, "segmentation": encode_rle(mask),
                          "area": int(mask.sum()), "bbox": [x0, y0, x1 - x0, y1 - y0],
                          "iscrowd": 0}
                coco.write(("" if annotation_id == 1 else ",\n") + json.dumps(record))
                track = tracks.setdefault(object_id, _ObjectTrack())
                track.frames.append(index)
                track.boxes.append([x0, y0, x1, y1])
            if on_progress is not None:
                on_progress(index + 1, info.num_frames)
        coco.write("\n]}\n")
    write_json(paths["objects"], _objects_document(video, tracks, objects or {}))
    logger.debug("exported %s to %s", video.name, out_dir)
    return paths


def _write_coco_head(stream, video: FrameSource) -> None:
    info = video.info
    head = {
        "info": {"description": f"ClickTrack results for {video.name}",
                 "fps": float(info.fps), "num_frames": info.num_frames},
        "categories": [{"id": 1, "name": "object", "supercategory": "object"}],
        "images": [{"id": i + 1, "file_name": f"{i:05d}.png", "frame_index": i,
                    "width": info.width, "height": info.height}
                   for i in range(info.num_frames)],
    }
    text = json.dumps(head)
    stream.write(text[:-1] + ', "annotations": [\n')


def _objects_document(video: FrameSource, tracks: dict[int, _ObjectTrack],
                      extra: dict[int, dict]) -> dict:
    info = video.info
    objects = []
    for object_id in sorted(set(tracks) | set(extra)):
        track = tracks.get(object_id, _ObjectTrack())
        entry = {"id": object_id, **extra.get(object_id, {}),
                 "num_frames": len(track.frames), "frames": track.frames,
                 "boxes": track.boxes}
        objects.append(entry)
    return {"video": video.name, "fps": float(info.fps), "width": info.width,
            "height": info.height, "num_frames": info.num_frames,
            "box_format": "x0, y0, x1, y1 (pixels, x1 and y1 exclusive)", "objects": objects}


def zip_masks(masks: MaskStore, path: str | Path) -> Path:
    """Write all stored mask PNGs into a zip at ``path`` (atomically)."""
    path = Path(path)
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w",
                                                         zipfile.ZIP_STORED) as archive:
        for index in masks.indices():
            archive.write(masks.path(index), f"masks/{index:05d}.png")
    return path
