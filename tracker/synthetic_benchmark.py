"""The default model's benchmark: held-out synthetic clips, J&F against a static baseline.

Clips come from :class:`aot.train.SyntheticClips` with a seed that training
does not use. The model is given frame 0's ground truth and propagates through the clip;
the baseline holds frame 0's mask still. Both are scored with :mod:`tracker.evaluate`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aot import DeAOT, Propagator, PropagatorConfig
from aot.train import SyntheticClips
from tracker.evaluate import EvaluationReport, evaluate_folders
from tracker.masks import MaskStore
from tracker.models import describe_augmentation
from tracker.tracking_options import DEFAULT_MIN_OBJECT_CELLS

logger = logging.getLogger(__name__)

HELD_OUT_SEED = 20261127


@dataclass
class SyntheticBenchmark:
    model: EvaluationReport
    static_baseline: EvaluationReport


def run_synthetic_benchmark(model: DeAOT, out_dir: str | Path, clips: int = 20,
                            seed: int = HELD_OUT_SEED, size: tuple[int, int] = (161, 161),
                            frames: int = 30,
                            config: PropagatorConfig = PropagatorConfig(
                                min_object_cells=DEFAULT_MIN_OBJECT_CELLS)
                            ) -> SyntheticBenchmark:
    """Write ground truth, predictions and baseline masks under ``out_dir`` and score them,
    the model tracking with ``config`` (default: the official settings, with the tracker's
    speck dropping)."""
    out_dir = Path(out_dir)
    source = SyntheticClips(seed, size, frames, max_objects=3)
    for index in range(clips):
        clip_frames, labels = source[index]
        name = f"clip{index:03d}"
        truth, predicted, static = (MaskStore(out_dir / part / name)
                                    for part in ("gt", "model", "static"))
        propagator = Propagator(model, config)
        propagator.add_reference(clip_frames[0], labels[0])
        for t in range(frames):
            truth.write(t, labels[t])
            static.write(t, labels[0])
            predicted.write(t, labels[0] if t == 0 else propagator.step(clip_frames[t]).labels)
    result = SyntheticBenchmark(evaluate_folders(out_dir / "model", out_dir / "gt"),
                                evaluate_folders(out_dir / "static", out_dir / "gt"))
    logger.info("held-out synthetic clips: model J&F %.3f (%s), static baseline J&F %.3f",
                result.model.jf, describe(config), result.static_baseline.jf)
    return result


def describe(config: PropagatorConfig) -> str:
    """``"flip on, scales 1.0,1.2, objects under 2 cells dropped, edge refinement off"``."""
    return (f"{describe_augmentation(config.flip, config.scales)}, objects under "
            f"{config.min_object_cells:g} cells dropped, edge refinement "
            f"{'on' if config.edge_refinement is not None else 'off'}")
