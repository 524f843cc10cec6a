"""The benchmark subcommands of ``python -m tracker``: ``bench-synthetic`` (J&F on
held-out synthetic clips), ``bench-vos`` (J&F on real video) and ``bench-clicks`` (the
interactive click protocol); ``bench-segmenters`` is :mod:`tracker.segmenter_benchmark`'s."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.cli_options import (
    OFFLINE_HELP,
    THREADS_HELP,
    add_deaot_arguments,
    obtain_models,
    positive,
    tracking_options,
)

if TYPE_CHECKING:
    from tracker.click_benchmark import ClickBenchmark
    from tracker.segmenter import Segmenter
    from tracker.vos_benchmark import VosBenchmark

logger = logging.getLogger(__name__)


def add_benchmark_commands(commands: argparse._SubParsersAction) -> None:
    """The ``bench-synthetic``, ``bench-vos`` and ``bench-clicks`` subcommands."""
    synthetic = commands.add_parser("bench-synthetic",
                                    help="J&F on held-out synthetic clips vs a static baseline")
    synthetic.add_argument("--clips", type=int, default=20)
    synthetic.add_argument("--frames", type=int, default=30)
    synthetic.add_argument("--size", type=int, default=161)
    synthetic.add_argument("--seed", type=int, help="clip seed (default: the held-out one)")
    synthetic.add_argument("--out", type=Path, help="where the masks go (default: a temp dir)")
    add_deaot_arguments(synthetic, memory=False)
    synthetic.set_defaults(run=_bench_synthetic)

    vos = commands.add_parser("bench-vos", help="J&F on real video (DAVIS / YouTube-VOS "
                              "folders) through the batch pipeline, beside two baselines")
    vos.add_argument("data", type=Path, metavar="DATA",
                     help="folder with JPEGImages/<seq>/ and Annotations/<seq>/")
    vos.add_argument("--sequences", type=lambda text: [n for n in text.split(",") if n],
                     help="comma-separated sequence names (default: all)")
    vos.add_argument("--frames", type=positive, help="cut each sequence to its first N frames "
                     "(default: whole sequences, as DAVIS scores them)")
    vos.add_argument("--out", type=Path, help="where predictions go (default: a temp dir)")
    vos.add_argument("--report", type=Path, help="also write the scores as .json or .csv")
    add_deaot_arguments(vos)
    vos.set_defaults(run=_bench_vos)

    clicks = commands.add_parser("bench-clicks", help="interactive segmentation on real frames "
                                 "by the RITM / SAM click protocol (mIoU@k, NoC@85/90)")
    clicks.add_argument("data", type=Path, metavar="DATA",
                        help="folder with JPEGImages/<seq>/ and Annotations/<seq>/")
    clicks.add_argument("--segmenter", default="geodesic_grabcut", metavar="NAME",
                        help="grabcut, geodesic_grabcut, sam (the default SAM model present), "
                             "a SAM or SAM 2.1 registry name (sam_vit_b, sam2.1_hiera_small "
                             "...) or a checkpoint path (default: %(default)s)")
    clicks.add_argument("--clicks", type=positive, default=5, help="clicks per object")
    clicks.add_argument("--sequences", type=lambda text: [n for n in text.split(",") if n],
                        help="comma-separated sequence names (default: all)")
    clicks.add_argument("--report", type=Path, help="also write the results as .json or .csv")
    clicks.add_argument("--offline", action="store_true", help=OFFLINE_HELP)
    clicks.add_argument("--device", default="cpu", help="cpu or cuda (SAM only)")
    clicks.add_argument("--threads", type=positive, help=THREADS_HELP)
    clicks.set_defaults(run=_bench_clicks)


def _bench_synthetic(args: argparse.Namespace) -> int:
    """``bench-synthetic``: DeAOT (fp32, unbounded memory) on held-out synthetic clips."""
    import tempfile
    from dataclasses import replace

    from tracker.models import ModelCache
    from tracker.synthetic_benchmark import HELD_OUT_SEED, describe, run_synthetic_benchmark

    if not obtain_models(args, fall_back=False):  # a benchmark measures the model named
        return 2
    model = ModelCache().deaot(args.deaot, args.device)
    plan = replace(tracking_options(args), propagation="deaot", precision="fp32").resolve()
    config = replace(plan.propagator, max_long_term=None)  # the official, unbounded memory
    out = args.out or Path(tempfile.mkdtemp(prefix="clicktrack-synthetic-"))
    seed = HELD_OUT_SEED if args.seed is None else args.seed
    result = run_synthetic_benchmark(model, out, clips=args.clips, seed=seed,
                                     size=(args.size, args.size), frames=args.frames,
                                     config=config)
    print(result.model.table())
    print(f"model J&F {result.model.jf:.3f} ({describe(config)})   static "
          f"first-mask baseline J&F {result.static_baseline.jf:.3f}   (masks in {out})")
    return 0


def _bench_vos(args: argparse.Namespace) -> int:
    """``bench-vos``: the batch pipeline on DAVIS / YouTube-VOS folders."""
    import tempfile

    from tracker.evaluate import EvaluationError
    from tracker.vos_benchmark import run_vos_benchmark

    if not obtain_models(args, fall_back=False):
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="clicktrack-vos-"))
    try:
        result = run_vos_benchmark(args.data, out, args.sequences, args.frames,
                                   tracking=tracking_options(args))
    except EvaluationError as error:
        logger.error("%s", error)
        return 2
    return _show(result, args.report)


def _show(result: VosBenchmark | ClickBenchmark, report: Path | None) -> int:
    """Print a benchmark's table, write its ``--report`` if asked; the exit status (0)."""
    print(result.table())
    if report is not None:
        result.write(report)
    return 0


def _click_segmenter(name: str, device: str) -> Segmenter:
    """The segmenter ``bench-clicks --segmenter`` names: an offline one, SAM or SAM 2.1."""
    from tracker.models import OFFLINE_SEGMENTERS, ModelCache, sam_weights

    if name in OFFLINE_SEGMENTERS:
        return OFFLINE_SEGMENTERS[name]()
    if name == "sam":
        if sam_weights(None, device) is None:
            raise FileNotFoundError("no SAM checkpoint is present; run: python -m tracker "
                                    "download sam_vit_b (or give one with --segmenter PATH)")
        return ModelCache().segmenter(None, device)
    return ModelCache().segmenter(name, device)


def _bench_clicks(args: argparse.Namespace) -> int:
    """``bench-clicks``: a segmenter under the RITM / SAM click protocol."""
    from tracker.click_benchmark import run_click_benchmark

    if not obtain_models(args, fall_back=False):
        return 2
    try:
        segmenter = _click_segmenter(args.segmenter, args.device)
        result = run_click_benchmark(args.data, segmenter, args.clicks, args.sequences)
    except (ValueError, FileNotFoundError, ImportError) as error:  # ImportError: no sam2
        logger.error("%s", error)
        return 2
    return _show(result, args.report)
