"""SA-V masklets (Segment Anything Video, the SAM 2 dataset): one JSON per video.

The schema is that of ``sav_dataset/README.md`` in facebookresearch/sam2: ``masklet`` is a
list over annotated frames of lists over objects of COCO RLEs (an empty mask where the
object is absent), ``masklet_id`` the objects' ids (0-based, so object ``k`` is
``masklet_id`` ``k - 1``), with ``video_frame_count``, ``video_height``, ``video_width`` and
the per-masklet statistics. ClickTrack writes every frame; SA-V itself annotates every
fourth (6 fps of 24 fps video), and reading infers that rate from the counts. Object
categories are not part of the schema.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from tracker.atomic import write_bytes
from tracker.formats.coco import load_json
from tracker.formats.rle import decode_rle, empty_rle, encode_rle
from tracker.formats.tracks import (
    FormatError,
    FrameAnnotation,
    KeyframeAnnotations,
    ReadOptions,
    VideoTracks,
    assign_ids,
    paint,
)

logger = logging.getLogger(__name__)


def _bucket(area: float) -> str:
    """SA-V's size bucket of a masklet's mean area in pixels."""
    return "small" if area < 32 ** 2 else "medium" if area < 96 ** 2 else "large"


def write_sav(tracks: VideoTracks, path: Path) -> None:
    """One SA-V JSON for the video: every frame annotated, masklet type ``auto``."""
    per_frame: list[dict[int, dict]] = []
    areas: dict[int, list[int]] = {}
    for _, labels in tracks.frames():
        present = {}
        for object_id in (int(i) for i in np.unique(labels) if i):
            mask = labels == object_id
            present[object_id] = encode_rle(mask)
            areas.setdefault(object_id, []).append(int(mask.sum()))
        per_frame.append(present)
    ids = sorted(areas)
    empty = empty_rle(tracks.height, tracks.width)
    visible = {i: [i in frame for frame in per_frame] for i in ids}
    first = {i: visible[i].index(True) for i in ids}
    changes = {i: int(np.count_nonzero(np.diff(np.array(visible[i][first[i]:], int))))
               for i in ids}
    resolution = tracks.width * tracks.height
    mean_area = {i: float(np.mean(areas[i])) for i in ids}
    document = {
        "video_id": tracks.name,
        "video_duration": tracks.num_frames / tracks.fps,
        "video_frame_count": float(tracks.num_frames),
        "video_height": float(tracks.height),
        "video_width": float(tracks.width),
        "video_resolution": float(resolution),
        "masklet": [[frame.get(i, empty) for i in ids] for frame in per_frame],
        "masklet_id": [i - 1 for i in ids],
        "masklet_size_rel": [mean_area[i] / resolution for i in ids],
        "masklet_size_abs": [mean_area[i] for i in ids],
        "masklet_size_bucket": [_bucket(mean_area[i]) for i in ids],
        "masklet_visibility_changes": [changes[i] for i in ids],
        "masklet_first_appeared_frame": [first[i] for i in ids],
        "masklet_frame_count": [len(per_frame)] * len(ids),
        "masklet_edited_frame_count": [0] * len(ids),
        "masklet_type": ["auto"] * len(ids),
        "masklet_num": len(ids),
    }
    write_bytes(path, json.dumps(document).encode())


def read_sav(path: Path, options: ReadOptions = ReadOptions()) -> KeyframeAnnotations:
    """An SA-V masklet JSON; where masklets overlap, later ones cover earlier ones."""
    document = load_json(path)
    try:
        masklet, masklet_ids = document["masklet"], [int(i) for i in document["masklet_id"]]
        height, width = int(document["video_height"]), int(document["video_width"])
        count = int(document.get("video_frame_count") or len(masklet))
        ids = assign_ids((i + 1 for i in masklet_ids), path.name)
        rate = max(1, round(count / len(masklet))) if masklet else 1
        frames = {}
        for n, rles in enumerate(masklet):
            if len(rles) != len(masklet_ids):
                raise FormatError(f"{path.name}: annotated frame {n} has {len(rles)} masks "
                                  f"for {len(masklet_ids)} masklets")
            masks = [(ids[i + 1], m) for i, m in
                     ((i, decode_rle(rle)) for i, rle in zip(masklet_ids, rles)) if m.any()]
            frames[n * rate] = FrameAnnotation(paint(masks, height, width))
        duration = float(document.get("video_duration") or 0)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, FormatError):
            raise
        raise FormatError(f"{path.name}: not an SA-V masklet file ({error!r})") from error
    if rate > 1:
        logger.info("%s: %d annotated frames of %d: every %d frames", path.name, len(masklet),
                    count, rate)
    return KeyframeAnnotations("sav", str(document.get("video_id") or path.stem), width,
                               height, count, count / duration if duration else None, frames)
