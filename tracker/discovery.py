"""Finding objects that appeared since tracking started (SAM-Track's rule, without its ID bug).

Every ``sam_gap`` frames SAM segments everything; a segment is a new object when at least
80% of it lies on background that no tracked object covers and that part is at least
``min_area`` pixels. New objects take the ids after the largest id ever used, so they never
collide with a tracked, removed or earlier-discovered object.
"""

from __future__ import annotations

import numpy as np

MIN_BACKGROUND_RATIO = 0.8


def find_new_objects(tracked: np.ndarray, segments: list[np.ndarray], next_id: int,
                     min_area: int, max_id: int = 255,
                     min_background_ratio: float = MIN_BACKGROUND_RATIO
                     ) -> tuple[np.ndarray, list[int]]:
    """Label map of the new objects among ``segments``.

    Args:
        tracked: (H, W) labels of the tracked objects on this frame (0 = background).
        segments: (H, W) bool masks, e.g. from SAM's automatic mask generator; earlier
            segments win where they overlap.
        next_id: the id of the first new object (largest id used so far + 1).
        min_area: smallest new object, in pixels on background.
        max_id: no id above this is handed out.
        min_background_ratio: share of a segment that must lie on background.

    Returns:
        (H, W) uint8 labels holding only the new objects (each restricted to the background
        part of its segment) and their ids, ascending from ``next_id``.
    """
    new = np.zeros(tracked.shape, np.uint8)
    free = tracked == 0
    ids: list[int] = []
    for segment in segments:
        if next_id > max_id:
            break
        area = int(segment.sum())
        on_background = segment & free
        background_area = int(on_background.sum())
        if area == 0 or background_area < min_area or background_area < min_background_ratio * area:
            continue
        new[on_background] = next_id
        free &= ~on_background
        ids.append(next_id)
        next_id += 1
    return new, ids
