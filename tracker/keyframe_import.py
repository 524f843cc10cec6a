"""Starting annotations from another tool's file: keyframes of any format in
:mod:`tracker.formats` (a CVAT or Label Studio export of a few keyframes, say) onto a
:class:`~tracker.tracker.Tracker`. The batch command's ``--init`` and the studio's
"Start from annotations" upload both go through here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tracker.formats import KeyframeAnnotations, ReadOptions, read_annotations
from tracker.segmenter import Prompt
from tracker.tracker import Tracker
from tracker.video import FrameSource

logger = logging.getLogger(__name__)


def read_keyframes(path: str | os.PathLike, video: FrameSource) -> KeyframeAnnotations:
    """What the init file's people drew (interpolated shapes dropped), checked against the
    video."""
    info = video.info
    annotations = read_annotations(path, ReadOptions(video.name, (info.width, info.height)))
    name = Path(path).name
    if annotations.width is not None and \
            (annotations.width, annotations.height) != (info.width, info.height):
        raise ValueError(f"{name} is for {annotations.width}x{annotations.height} frames, "
                         f"{video.name} is {info.width}x{info.height}")
    keyframes = annotations.keyframes()
    if not keyframes.frames:
        raise ValueError(f"{name}: holds no object on any keyframe")
    outside = [i for i in keyframes.frames if not 0 <= i < info.num_frames]
    if outside:
        raise ValueError(f"{name} annotates frame {min(outside)}, but {video.name} has "
                         f"{info.num_frames} frames")
    logger.info("%s: %d keyframes, objects %s from %s (%s)", video.name,
                len(keyframes.frames), keyframes.object_ids(), name, annotations.format)
    return keyframes


def annotate_keyframes(tracker: Tracker, keyframes: KeyframeAnnotations) -> None:
    """Each keyframe's masks as its annotation, then each box as a box prompt there."""
    width, height = tracker.video.info.width, tracker.video.info.height
    for index, frame in sorted(keyframes.frames.items()):
        if frame.labels is not None:
            tracker.set_labels(index, frame.labels, source="init")
        for object_id, (x0, y0, x1, y1) in sorted(frame.boxes.items()):
            box = (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))
            if box[0] >= box[2] or box[1] >= box[3]:
                logger.warning("object %d's box on frame %d lies outside the frame: skipped",
                               object_id, index)
                continue
            tracker.prompt(index, object_id, Prompt(box=box))
