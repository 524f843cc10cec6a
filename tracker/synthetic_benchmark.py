"""The default model's benchmark: held-out synthetic clips, J&F against a static baseline.

Clips come from :class:`aot.train.synthetic_clips.SyntheticClips` with a seed that training
does not use. The model is given frame 0's ground truth and propagates through the clip;
the baseline holds frame 0's mask still. Both are scored with :mod:`tracker.evaluate`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aot import DeAOT, EdgeRefinement, Propagator
from aot.train.synthetic_clips import SyntheticClips
from tracker.evaluate import EvaluationReport, evaluate_folders
from tracker.masks import MaskStore
from tracker.models import describe_augmentation
from tracker.session import DEFAULT_MIN_OBJECT_CELLS

logger = logging.getLogger(__name__)

HELD_OUT_SEED = 20261127


@dataclass
class SyntheticBenchmark:
    model: EvaluationReport
    static_baseline: EvaluationReport


def run_synthetic_benchmark(model: DeAOT, out_dir: str | Path, clips: int = 20,
                            seed: int = HELD_OUT_SEED, size: tuple[int, int] = (161, 161),
                            frames: int = 30, precision: str = "fp32",
                            flip: bool = False, scales: tuple[float, ...] = (1.0,),
                            min_object_cells: float = DEFAULT_MIN_OBJECT_CELLS,
                            refine_edges: bool = False) -> SyntheticBenchmark:
    """Write ground truth, predictions and baseline masks under ``out_dir`` and score them
    (``flip``, ``scales``, ``min_object_cells``: as :class:`aot.Propagator` takes them, the
    last defaulting to the tracker's; ``refine_edges``: with the default
    :class:`aot.EdgeRefinement`)."""
    out_dir = Path(out_dir)
    source = SyntheticClips(seed, size, frames, max_objects=3)
    for index in range(clips):
        clip_frames, labels = source[index]
        name = f"clip{index:03d}"
        truth, predicted, static = (MaskStore(out_dir / part / name)
                                    for part in ("gt", "model", "static"))
        propagator = Propagator(model, precision=precision, flip=flip, scales=scales,
                                min_object_cells=min_object_cells,
                                edge_refinement=EdgeRefinement() if refine_edges else None)
        propagator.add_reference(clip_frames[0], labels[0])
        for t in range(frames):
            truth.write(t, labels[t])
            static.write(t, labels[0])
            predicted.write(t, labels[0] if t == 0 else propagator.step(clip_frames[t]).labels)
    result = SyntheticBenchmark(evaluate_folders(out_dir / "model", out_dir / "gt"),
                                evaluate_folders(out_dir / "static", out_dir / "gt"))
    logger.info("held-out synthetic clips: model J&F %.3f (%s, objects under %g cells "
                "dropped, edge refinement %s), static baseline J&F %.3f", result.model.jf,
                describe_augmentation(flip, scales), min_object_cells,
                "on" if refine_edges else "off", result.static_baseline.jf)
    return result
