"""J, F and J&F of predicted masks against ground truth, as DAVIS defines them.

The per-frame measures come from the ``vos-benchmark`` package (its ``Evaluator``: region
similarity J = IoU, boundary F-measure with a tolerance of 0.8% of the image diagonal);
this module walks the folders, checks them, and aggregates per video and overall. As in the
DAVIS semi-supervised protocol, the first and last frame of each video are not scored.

    PRED_DIR/<video>/00000.png ...   GT_DIR/<video>/00000.png ...   (palette PNGs of ids)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tracker.masks import read_label_png

logger = logging.getLogger(__name__)


class EvaluationError(ValueError):
    """Prediction and ground-truth folders that cannot be compared."""


@dataclass
class VideoScore:
    """Per-object J and F (fractions) of one video."""

    name: str
    j: dict[int, float] = field(default_factory=dict)
    f: dict[int, float] = field(default_factory=dict)

    @property
    def j_mean(self) -> float:
        return float(np.mean(list(self.j.values()))) if self.j else float("nan")

    @property
    def f_mean(self) -> float:
        return float(np.mean(list(self.f.values()))) if self.f else float("nan")

    @property
    def jf(self) -> float:
        return (self.j_mean + self.f_mean) / 2


@dataclass
class EvaluationReport:
    """Per-video scores and the overall means over all objects of all videos."""

    videos: list[VideoScore]

    @property
    def j(self) -> float:
        return float(np.mean([v for s in self.videos for v in s.j.values()]))

    @property
    def f(self) -> float:
        return float(np.mean([v for s in self.videos for v in s.f.values()]))

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2

    def table(self) -> str:
        lines = [f"{'video':<24} {'J&F':>6} {'J':>6} {'F':>6}"]
        for video in self.videos:
            lines.append(f"{video.name:<24} {video.jf:6.3f} {video.j_mean:6.3f} "
                         f"{video.f_mean:6.3f}")
        lines.append(f"{'overall':<24} {self.jf:6.3f} {self.j:6.3f} {self.f:6.3f}")
        return "\n".join(lines)


def _evaluator_class():
    try:
        from vos_benchmark.evaluator import Evaluator
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise EvaluationError("evaluation needs the vos-benchmark package: "
                              "pip install --no-deps vos-benchmark==0.1.0") from error
    return Evaluator


def score_video(name: str, predictions: list[np.ndarray], truths: list[np.ndarray],
                skip_first_and_last: bool = True) -> VideoScore:
    """J and F per object of one video from (H, W) id maps."""
    evaluator = _evaluator_class()(name=name)
    pairs = list(zip(predictions, truths))
    if skip_first_and_last and len(pairs) > 2:
        pairs = pairs[1:-1]
    for prediction, truth in pairs:
        if prediction.shape != truth.shape:
            raise EvaluationError(f"{name}: prediction {prediction.shape} and ground truth "
                                  f"{truth.shape} differ in size")
        evaluator.feed_frame(prediction, truth)
    j, f = evaluator.conclude()
    return VideoScore(name, {int(k): v / 100 for k, v in j.items()},
                      {int(k): v / 100 for k, v in f.items()})


def evaluate_folders(pred_root: str | Path, gt_root: str | Path,
                     skip_first_and_last: bool = True) -> EvaluationReport:
    """Score every video folder of ``gt_root`` against the same folder in ``pred_root``."""
    pred_root, gt_root = Path(pred_root), Path(gt_root)
    for root in (pred_root, gt_root):
        if not root.is_dir():
            raise EvaluationError(f"{root} is not a folder")
    videos = sorted(p.name for p in gt_root.iterdir() if p.is_dir())
    if not videos:
        raise EvaluationError(f"{gt_root} holds no video folders")
    scores = []
    for video in videos:
        names = sorted(p.name for p in (gt_root / video).glob("*.png"))
        missing = [n for n in names if not (pred_root / video / n).exists()]
        if missing:
            raise EvaluationError(f"{video}: {len(missing)} masks missing in {pred_root / video}"
                                  f" (first: {missing[0]})")
        truths = [read_label_png(gt_root / video / n) for n in names]
        predictions = [read_label_png(pred_root / video / n) for n in names]
        scores.append(score_video(video, predictions, truths, skip_first_and_last))
    return EvaluationReport(scores)
