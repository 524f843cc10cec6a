"""``python -m tracker``: batch tracking, weight downloads, the model list and evaluation.

The parser and :func:`main`, with the small commands (``download``, ``models``, ``eval``);
``track`` is :mod:`tracker.track_command`'s, the benchmarks are
:mod:`tracker.bench_commands`' and :mod:`tracker.segmenter_benchmark`'s, and the options
they share :mod:`tracker.cli_options`'.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tracker.bench_commands import add_benchmark_commands
from tracker.interrupts import sigterm_as_ctrl_c
from tracker.segmenter_benchmark import add_segmenter_benchmark
from tracker.track_command import add_track_command

logger = logging.getLogger("tracker")


def _download(args: argparse.Namespace) -> int:
    from tracker.download import DownloadError, download
    from tracker.registry import load_registry

    registry = load_registry()
    unknown = [n for n in args.names if n not in registry]
    if unknown:
        logger.error("unknown model %s; known: %s", ", ".join(unknown), ", ".join(registry))
        return 2
    bundled = [n for n in args.names if registry[n].bundled]
    if bundled:
        logger.error("%s ships with ClickTrack; there is nothing to download", ", ".join(bundled))
        return 2
    failures = 0
    for name in args.names:
        try:
            path = download(registry[name], args.dir)
            logger.info("%s: %s", name, path)
        except (DownloadError, OSError) as error:
            failures += 1
            logger.error("%s: %s", name, error)
    return 1 if failures else 0


def _models(args: argparse.Namespace) -> int:
    from tracker.registry import checkpoint_dir, load_registry

    print(f"weights folder: {checkpoint_dir()}")
    registry = load_registry()
    width = max(map(len, registry))
    for name, entry in registry.items():
        size = entry.size / 2 ** 20 if entry.size else entry.approx_mb
        if entry.bundled and entry.present:
            size = entry.path.stat().st_size / 2 ** 20
        if entry.bundled:
            state = "present (bundled)" if entry.present else "missing: see checkpoints/README.md"
        else:
            state = "present" if entry.present else f"missing: python -m tracker download {name}"
        print(f"  {name:{width}s} {entry.kind:8s} {size or 0:7.0f} MB  {state}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tracker.evaluate import EvaluationError, evaluate_folders

    try:
        report = evaluate_folders(args.pred, args.gt, not args.all_frames)
    except EvaluationError as error:
        logger.error("%s", error)
        return 2
    print(report.table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand, each naming the function that runs it (``run``)."""
    installed = Path(sys.argv[0]).name == "clicktrack"
    parser = argparse.ArgumentParser(prog="clicktrack" if installed else "python -m tracker",
                                     description="Segment and track objects through videos.")
    commands = parser.add_subparsers(dest="command", required=True)

    add_track_command(commands)

    fetch = commands.add_parser("download", help="download weight files")
    fetch.add_argument("names", nargs="+", metavar="NAME")
    fetch.add_argument("--dir", type=Path, help="destination (default: checkpoints/)")
    fetch.set_defaults(run=_download)

    listing = commands.add_parser("models", help="list known weights, present and missing")
    listing.set_defaults(run=_models)

    scoring = commands.add_parser("eval", help="J, F and J&F of predicted masks (DAVIS)")
    scoring.add_argument("pred", type=Path, metavar="PRED_DIR", help="PRED_DIR/<video>/*.png")
    scoring.add_argument("gt", type=Path, metavar="GT_DIR", help="GT_DIR/<video>/*.png")
    scoring.add_argument("--all-frames", action="store_true",
                         help="also score the first and last frames")
    scoring.set_defaults(run=_eval)

    add_benchmark_commands(commands)
    add_segmenter_benchmark(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the subcommand ``argv`` (default: the command line) names; its exit status, 130
    after Ctrl-C or SIGTERM."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if getattr(args, "threads", None):
        from tracker.models import set_threads

        set_threads(args.threads)
    try:
        with sigterm_as_ctrl_c():
            return args.run(args)
    except KeyboardInterrupt:
        logger.error("interrupted: finished results are intact, and a rerun continues with "
                     "the rest")
        return 130


if __name__ == "__main__":
    sys.exit(main())
