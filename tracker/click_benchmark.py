"""Interactive segmentation on real frames, scored by the standard click protocol.

The protocol is the one RITM (Sofiiuk et al., 2022) and SAM (Kirillov et al., 2023) report:
a simulated user clicks where the current mask is most wrong, and the segmenter refines.

* Instances: for every sequence of a DAVIS / YouTube-VOS style folder, its first frame and
  its middle frame (index ``len // 2``), one instance per object id of the frame's mask.
* Click 1 is positive, at the object's pixel farthest from its boundary (the maximum of the
  distance transform of the mask padded with zeros, so the frame's edge counts as boundary).
* Each later click: of the false negatives (object missed) and the false positives
  (background taken), the region whose farthest-from-boundary pixel is farther (RITM's
  rule) gets the next click, at that pixel: positive on a miss, negative on a false alarm.
  The segmenter is given every click so far and its previous result, which it refines.
  A perfect mask gets no more clicks; it keeps its IoU.
* Scores: mean IoU after 1, 3 and 5 clicks, NoC@85 / NoC@90 (the clicks needed to reach that
  IoU, counted as the maximum number of clicks when never reached), and wall seconds per
  click.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tracker.evaluate import EvaluationError
from tracker.segmenter import Prompt, Segmenter, SegmentResult
from tracker.video import read_image
from tracker.vos_benchmark import find_sequences, read_annotation

logger = logging.getLogger(__name__)

#: The click counts whose mean IoU is reported, and the IoUs whose NoC is.
REPORTED_CLICKS = (1, 3, 5)
NOC_THRESHOLDS = (0.85, 0.90)


@dataclass(frozen=True)
class Click:
    """One simulated click: pixel (x, y), positive (on the object) or negative."""

    x: int
    y: int
    positive: bool


@dataclass(frozen=True)
class Instance:
    """One object on one frame: (H, W, 3) uint8 RGB ``image``, (H, W) bool ``truth``."""

    sequence: str
    frame: int
    object_id: int
    image: np.ndarray
    truth: np.ndarray


@dataclass(frozen=True)
class InstanceResult:
    """The clicks made on one instance and the IoU and wall seconds after each."""

    sequence: str
    frame: int
    object_id: int
    clicks: tuple[Click, ...]
    ious: tuple[float, ...]
    seconds: tuple[float, ...]

    def iou_after(self, clicks: int) -> float:
        """IoU after ``clicks`` clicks (the last one if the mask was perfect sooner)."""
        return self.ious[min(clicks, len(self.ious)) - 1]

    def clicks_to(self, threshold: float, max_clicks: int) -> int:
        """Clicks until the IoU first reaches ``threshold``; ``max_clicks`` if it never does."""
        return next((i + 1 for i, iou in enumerate(self.ious) if iou >= threshold), max_clicks)


def farthest_from_boundary(region: np.ndarray) -> tuple[tuple[int, int], float]:
    """The (x, y) pixel of an (H, W) bool region farthest from its boundary (and the frame's
    edge), and that distance; distance 0 for an empty region."""
    padded = np.pad(region.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    y, x = np.unravel_index(int(distance.argmax()), distance.shape)
    return (int(x), int(y)), float(distance[y, x])


def next_click(truth: np.ndarray, predicted: np.ndarray | None) -> Click | None:
    """The protocol's next click for (H, W) bool ``truth`` given the (H, W) bool
    ``predicted`` mask (``None`` before the first click); ``None`` when nothing is wrong."""
    if predicted is None:
        predicted = np.zeros_like(truth)
    (miss_x, miss_y), miss = farthest_from_boundary(truth & ~predicted)
    (alarm_x, alarm_y), alarm = farthest_from_boundary(~truth & predicted)
    if miss == 0 and alarm == 0:
        return None
    return Click(miss_x, miss_y, True) if miss > alarm else Click(alarm_x, alarm_y, False)


def iou(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Intersection over union of two (H, W) bool masks (1 when both are empty)."""
    union = np.logical_or(truth, predicted).sum()
    return float(np.logical_and(truth, predicted).sum() / union) if union else 1.0


def run_clicks(segmenter: Segmenter, instance: Instance, max_clicks: int) -> InstanceResult:
    """Click on one instance by the protocol, up to ``max_clicks`` times."""
    clicks: list[Click] = []
    ious: list[float] = []
    seconds: list[float] = []
    previous: SegmentResult | None = None
    while len(clicks) < max_clicks:
        click = next_click(instance.truth, previous.mask if previous is not None else None)
        if click is None:
            break
        clicks.append(click)
        prompt = Prompt(tuple((float(c.x), float(c.y)) for c in clicks),
                        tuple(int(c.positive) for c in clicks))
        began = time.perf_counter()
        previous = segmenter.segment(instance.image, prompt, previous)
        seconds.append(time.perf_counter() - began)
        ious.append(iou(instance.truth, previous.mask))
    return InstanceResult(instance.sequence, instance.frame, instance.object_id,
                          tuple(clicks), tuple(ious), tuple(seconds))


def find_instances(root: str | Path, sequences: list[str] | None = None) -> Iterator[Instance]:
    """The first and middle frame of each sequence of a VOS folder, one instance per object."""
    for sequence in find_sequences(root, sequences):
        for index in sorted({0, len(sequence.frames) // 2}):
            labels = read_annotation(sequence.annotations[index])
            image = read_image(sequence.frames[index])
            for object_id in (int(i) for i in np.unique(labels) if i):
                yield Instance(sequence.name, index, object_id, image, labels == object_id)


@dataclass(frozen=True)
class ClickBenchmark:
    """One segmenter's results on every instance, and the (width, height) frame sizes."""

    segmenter: str
    max_clicks: int
    instances: tuple[InstanceResult, ...]
    sizes: tuple[tuple[int, int], ...]

    def miou(self, clicks: int) -> float:
        """Mean IoU over instances after ``clicks`` clicks."""
        return float(np.mean([r.iou_after(clicks) for r in self.instances]))

    def noc(self, threshold: float) -> float:
        """Mean clicks to reach IoU ``threshold``, never reaching it counted as max_clicks."""
        return float(np.mean([r.clicks_to(threshold, self.max_clicks)
                              for r in self.instances]))

    @property
    def seconds_per_click(self) -> float:
        """Mean wall seconds the segmenter took to answer one click."""
        return float(np.mean([s for r in self.instances for s in r.seconds]))

    def _reported(self) -> tuple[int, ...]:
        return tuple(k for k in REPORTED_CLICKS if k <= self.max_clicks)

    def table(self) -> str:
        """Per instance IoU after the reported click counts, then the summary scores."""
        reported = self._reported()
        lines = [f"{'instance':<26}" + "".join(f"{f'IoU@{k}':>9}" for k in reported)]
        for r in self.instances:
            lines.append(f"{f'{r.sequence}/{r.frame:05d}#{r.object_id}':<26}"
                         + "".join(f"{r.iou_after(k):9.3f}" for k in reported))
        lines.append(f"{'mean':<26}" + "".join(f"{self.miou(k):9.3f}" for k in reported))
        sizes = ", ".join(f"{w}x{h}" for w, h in self.sizes)
        lines.append(f"{self.segmenter}: " + "  ".join(
            f"NoC@{round(t * 100)} {self.noc(t):.2f}" for t in NOC_THRESHOLDS)
            + f" (of at most {self.max_clicks}; never reached counts {self.max_clicks})  "
            f"{self.seconds_per_click:.3f} s/click  {len(self.instances)} instances at {sizes}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"segmenter": self.segmenter, "max_clicks": self.max_clicks,
                "sizes": [list(s) for s in self.sizes],
                "miou": {str(k): self.miou(k) for k in self._reported()},
                "noc": {str(round(t * 100)): self.noc(t) for t in NOC_THRESHOLDS},
                "seconds_per_click": self.seconds_per_click,
                "instances": [{"sequence": r.sequence, "frame": r.frame,
                               "object_id": r.object_id, "ious": list(r.ious),
                               "clicks": [[c.x, c.y, int(c.positive)] for c in r.clicks],
                               "seconds": list(r.seconds)} for r in self.instances]}

    def write(self, path: Path) -> None:
        """The report as JSON (``.json``) or CSV, one row per instance and click."""
        from tracker.atomic import write_bytes, write_json

        if path.suffix.lower() == ".json":
            write_json(path, self.to_json())
            return
        rows = ["segmenter,sequence,frame,object_id,click,x,y,positive,iou,seconds"]
        for r in self.instances:
            for i, (click, value, seconds) in enumerate(zip(r.clicks, r.ious, r.seconds)):
                rows.append(f"{self.segmenter},{r.sequence},{r.frame},{r.object_id},{i + 1},"
                            f"{click.x},{click.y},{int(click.positive)},{value:.4f},"
                            f"{seconds:.4f}")
        write_bytes(path, ("\n".join(rows) + "\n").encode())


def run_click_benchmark(root: str | Path, segmenter: Segmenter, max_clicks: int = 5,
                        sequences: list[str] | None = None) -> ClickBenchmark:
    """Run the click protocol with ``segmenter`` on every instance of a VOS folder.

    Args:
        root: the VOS folder (``JPEGImages/<seq>/``, ``Annotations/<seq>/``).
        segmenter: answers every click; each instance starts afresh.
        max_clicks: clicks per instance.
        sequences: names to run (default: all).
    """
    if max_clicks < 1:
        raise ValueError(f"max_clicks must be at least 1, got {max_clicks}")
    results, sizes = [], {}
    for instance in find_instances(root, sequences):
        result = run_clicks(segmenter, instance, max_clicks)
        results.append(result)
        height, width = instance.truth.shape
        sizes[(width, height)] = None
        logger.info("%s/%05d#%d: IoU %s", result.sequence, result.frame, result.object_id,
                    " ".join(f"{v:.3f}" for v in result.ious))
    if not results:
        raise EvaluationError(f"{root}: no objects in the first or middle frames' masks")
    return ClickBenchmark(segmenter.name, max_clicks,
                          tuple(results), tuple(sizes))
