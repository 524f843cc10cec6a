"""Text prompts to objects: each box the detector finds is a box prompt for the segmenter,
and each mask (kept inside its box) a candidate object.

The candidates then go through the rule every "find new objects" path shares
(:meth:`tracker.annotation_record.AnnotationRecord.add_new_objects`): one becomes a new
object, with the next unused id, when most of it lies on background.
"""

from __future__ import annotations

import numpy as np

from tracker.segmenter import Prompt, Segmenter
from tracker.text_detector import Detection


def segment_detections(segmenter: Segmenter, image: np.ndarray,
                       detections: list[Detection]) -> list[np.ndarray]:
    """One (H, W) bool mask per detection: the segmenter's answer to its box as a prompt,
    cut to the box (a box names one object; what spills out of it belongs to others)."""
    masks = []
    for detection in detections:
        mask = segmenter.segment(image, Prompt(box=detection.box)).mask
        x0, y0, x1, y1 = detection.box
        inside = np.zeros_like(mask)
        inside[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] = True
        masks.append(mask & inside)
    return masks


def name_objects(labels: np.ndarray, ids: list[int], masks: list[np.ndarray],
                 detections: list[Detection]) -> dict[int, str]:
    """The phrase of each new object: that of the detection whose mask covers most of the
    object's pixels in the (H, W) ``labels``."""
    names = {}
    for object_id in ids:
        region = labels == object_id
        overlaps = [int((mask & region).sum()) for mask in masks]
        names[object_id] = detections[int(np.argmax(overlaps))].label
    return names
