"""Drawing over frames: label maps (coloured masks, outlines and id labels) and the prompts
being placed (clicks and boxes)."""

from __future__ import annotations

import cv2
import numpy as np

from tracker.masks import PALETTE
from tracker.segmenter import Prompt

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def object_colour(object_id: int) -> tuple[int, int, int]:
    """RGB colour of an object, brightened from the DAVIS palette so it shows on video."""
    r, g, b = (int(c) for c in PALETTE[object_id % 256])
    return (min(255, 64 + r), min(255, 64 + g), min(255, 64 + b)) if object_id else (0, 0, 0)


def draw_overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.5,
                 names: dict[int, str] | None = None) -> np.ndarray:
    """(H, W, 3) RGB frame with each object of (H, W) ``labels`` tinted, outlined and
    labelled with its id (or ``names[id]``). Returns a new array."""
    out = image.copy()
    ids = [int(i) for i in np.unique(labels) if i]
    if not ids:
        return out
    colours = np.array([object_colour(i) for i in range(256)], np.float32)
    tinted = labels > 0
    out[tinted] = ((1 - alpha) * out[tinted] + alpha * colours[labels[tinted]]).astype(np.uint8)
    scale = max(0.4, min(image.shape[:2]) / 600)
    thickness = max(1, int(round(scale * 2)))
    for object_id in ids:
        mask = (labels == object_id).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, object_colour(object_id), thickness)
        ys, xs = np.nonzero(mask)
        text = names.get(object_id, str(object_id)) if names else str(object_id)
        (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
        x = int(np.clip(xs.min(), 0, image.shape[1] - tw - 4))
        y = int(np.clip(ys.min() + th + 4, th + 4, image.shape[0] - base - 1))
        cv2.rectangle(out, (x, y - th - 4), (x + tw + 4, y + base), object_colour(object_id), -1)
        cv2.putText(out, text, (x + 2, y - 2), _FONT, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return out


def draw_prompt(image: np.ndarray, prompt: Prompt | None,
                box_corner: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W, 3) RGB frame with a prompt's clicks (positive green, negative red), its box,
    and the first corner of a box being drawn (a cross) marked in place. Returns ``image``."""
    radius = max(3, min(image.shape[:2]) // 80)
    if prompt is not None:
        if prompt.box is not None:
            x0, y0, x1, y1 = (int(v) for v in prompt.box)
            cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 0), 2)
        for (x, y), label in zip(prompt.points, prompt.labels):
            colour = (40, 220, 40) if label else (230, 40, 40)
            cv2.circle(image, (int(x), int(y)), radius + 2, (255, 255, 255), -1)
            cv2.circle(image, (int(x), int(y)), radius, colour, -1)
    if box_corner is not None:
        cv2.drawMarker(image, tuple(int(v) for v in box_corner), (255, 255, 0),
                       cv2.MARKER_CROSS, 4 * radius, 2)
    return image
