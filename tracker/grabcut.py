"""OpenCV GrabCut segmenter: clicks and boxes without any downloaded weights."""

from __future__ import annotations

import cv2
import numpy as np

from tracker.segmenter import Prompt, Segmenter, SegmentResult, check_image

_ITERATIONS = 5


def keep_clicked_components(mask: np.ndarray, seeds: list[tuple[int, int]]) -> np.ndarray:
    """The connected components of ``mask`` containing a seed (x, y), else the largest."""
    count, components = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    keep = {int(components[y, x]) for x, y in seeds if components[y, x] > 0}
    if not keep:
        areas = np.bincount(components.ravel(), minlength=count)
        areas[0] = 0
        keep = {int(areas.argmax())}
    return np.isin(components, list(keep))


class GrabCutSegmenter(Segmenter):
    """Graph-cut segmentation seeded by the prompt.

    A box marks everything outside it as background; with clicks only, a region around the
    positive clicks plays the box's part. Positive clicks mark discs of certain foreground,
    negative clicks discs of certain background, and a previous mask of the object stays a
    candidate for the refinement.
    """

    name = "grabcut"

    def segment(self, image: np.ndarray, prompt: Prompt,
                previous: SegmentResult | None = None) -> SegmentResult:
        check_image(image)
        height, width = image.shape[:2]
        prompt.validate(width, height)
        side = min(height, width)
        seeds = np.full((height, width), cv2.GC_BGD, np.uint8)
        positives = [(int(x), int(y)) for (x, y), lab in zip(prompt.points, prompt.labels) if lab]
        negatives = [(int(x), int(y)) for (x, y), lab in zip(prompt.points, prompt.labels)
                     if not lab]
        region = None
        if prompt.box is not None:
            region = tuple(int(round(v)) for v in prompt.box)
        elif positives:
            xs, ys = zip(*positives)
            margin = max(int(0.25 * side), 16)
            region = (max(min(xs) - margin, 0), max(min(ys) - margin, 0),
                      max(xs) + margin + 1, max(ys) + margin + 1)
        if region is not None:
            x0, y0, x1, y1 = region
            seeds[y0:y1, x0:x1] = cv2.GC_PR_FGD
        if previous is not None:
            seeds[previous.mask] = cv2.GC_PR_FGD
        for x, y in positives:
            cv2.circle(seeds, (x, y), max(side // 60, 2), cv2.GC_FGD, -1)
        for x, y in negatives:
            cv2.circle(seeds, (x, y), max(side // 60, 2), cv2.GC_BGD, -1)
        if not (seeds == cv2.GC_BGD).any():
            seeds[[0, -1], :] = cv2.GC_BGD
            seeds[:, [0, -1]] = cv2.GC_BGD
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        mask = _grabcut(bgr, seeds.copy())
        if not mask.any() and region is not None:
            # GrabCut gave the whole region to the background: anchor its centre third.
            x0, y0, x1, y1 = region
            dx, dy = (x1 - x0) // 3, (y1 - y0) // 3
            seeds[y0 + dy:y1 - dy, x0 + dx:x1 - dx] = cv2.GC_FGD
            mask = _grabcut(bgr, seeds)
        return SegmentResult(keep_clicked_components(mask, positives), self.name)


def _grabcut(bgr: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Run GrabCut from a seed map; (H, W) bool foreground."""
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # GrabCut's k-means start: same prompt, same mask
    cv2.grabCut(bgr, seeds, None, background, foreground, _ITERATIONS, cv2.GC_INIT_WITH_MASK)
    return (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
