"""Exports of a tracked video, built by streaming over its frames and stored masks.

Into the output folder, for the formats asked (default
:data:`tracker.formats.DEFAULT_FORMATS`):

* ``overlay.mp4``: coloured masks, outlines and ids over the frames (H.264, yuv420p);
* ``masks/00000.png ...``: palette PNGs of object ids (the store itself, written while
  tracking);
* ``annotations.json``: COCO, one annotation per frame and object with RLE segmentation,
  bbox, area and ``track_id``;
* ``objects.json``: per object, the frames it is present in and its box in each;
* any other format of :mod:`tracker.formats` (DAVIS, YouTube-VOS/VIS, SA-V, MOT, MOTS,
  CVAT, Label Studio).

Every file is written atomically.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from tracker.atomic import atomic_path
from tracker.formats import DEFAULT_FORMATS, OVERLAY, VideoTracks, export_formats
from tracker.masks import MaskStore
from tracker.overlay import draw_overlay
from tracker.video import FrameSource
from tracker.video_writer import H264Writer

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]


def _frames_with_labels(video: FrameSource, masks: MaskStore
                        ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    height, width = video.info.height, video.info.width
    for index, image in video.frames():
        labels = masks.read(index)
        yield index, image, np.zeros((height, width), np.uint8) if labels is None else labels


def export_results(video: FrameSource, masks: MaskStore, out_dir: str | Path,
                   objects: dict[int, dict] | None = None,
                   on_progress: ProgressCallback | None = None,
                   formats: Sequence[str] = DEFAULT_FORMATS,
                   categories: Mapping[int, str] | None = None) -> dict[str, Path]:
    """Write the overlay and the other ``formats`` of a tracked video.

    Args:
        video: the frames.
        masks: the stored label maps (frames without one count as empty). ``masks`` in
            ``formats`` names these PNGs themselves: nothing is rewritten for it.
        out_dir: destination folder.
        objects: extra per-object fields for objects.json (e.g. source, segmenter).
        on_progress: called with (frames done, total frames) while the overlay is written.
        formats: names from :data:`tracker.formats.FORMATS`.
        categories: object id -> category name (default ``object``), for the formats that
            name categories or labels.

    Returns:
        name -> path of every file or folder written: ``overlay``, ``annotations`` (COCO),
        ``objects``, and each other format by its name.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    if OVERLAY in formats:
        paths["overlay"] = out_dir / "overlay.mp4"
        info = video.info
        with H264Writer(paths["overlay"], info.fps, (info.width, info.height)) as writer:
            for index, image, labels in _frames_with_labels(video, masks):
                writer.write(draw_overlay(image, labels))
                if on_progress is not None:
                    on_progress(index + 1, info.num_frames)
    tracks = VideoTracks.from_store(video.name, video.info, masks, categories, objects)
    written = export_formats([n for n in formats if n not in (OVERLAY, "masks")], tracks,
                             out_dir)
    paths.update({"annotations" if name == "coco" else name: path
                  for name, path in written.items()})
    logger.debug("exported %s to %s", video.name, out_dir)
    return paths


def zip_masks(masks: MaskStore, path: str | Path) -> Path:
    """Write all stored mask PNGs into a zip at ``path`` (atomically)."""
    path = Path(path)
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w",
                                                         zipfile.ZIP_STORED) as archive:
        for index in masks.indices():
            archive.write(masks.path(index), f"masks/{index:05d}.png")
    return path
