"""``python -m tracker``: batch tracking, weight downloads, the model list and evaluation."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from tracker.cli_options import (
    OFFLINE_HELP,
    THREADS_HELP,
    add_deaot_arguments,
    add_limit_arguments,
    add_text_arguments,
    non_negative,
    positive,
    text_config,
    tracking_options,
    video_limits,
)
from tracker.interrupts import sigterm_as_ctrl_c
from tracker.segmenter_benchmark import add_segmenter_benchmark

logger = logging.getLogger("tracker")


def _obtain_models(args: argparse.Namespace, fall_back: bool) -> bool:
    """Download the registry models that ``--deaot``, ``--sam``, ``--segmenter`` or
    ``--detector`` name (with ``--text``, the detector defaults to the best present, else
    grounding_dino_tiny) and that are missing (none with ``--offline``), each with a
    progress bar on stderr; with no network and ``fall_back``, drop them from ``args`` (the
    defaults stand in, one warning says so; nothing stands in for a detector). ``False``,
    after logging why, when a named model cannot be had."""
    import torch

    from tracker.download import DownloadError
    from tracker.models import default_detector_name
    from tracker.on_demand import obtain
    from tracker.registry import UnknownModelError

    if getattr(args, "text", None) is not None and args.detector is None:
        args.detector = default_detector_name(torch.device(args.device)) or "grounding_dino_tiny"
    try:
        for option, kind in (("deaot", "deaot"), ("sam", "sam"), ("segmenter", "sam"),
                             ("detector", "detector")):
            if getattr(args, option, None) is not None:
                setattr(args, option, obtain(getattr(args, option), kind, offline=args.offline,
                                             fall_back=fall_back, device=args.device))
    except (DownloadError, OSError, UnknownModelError) as error:  # OSError: offline, disk
        logger.error("%s", error)
        return False
    return True


def _track(args: argparse.Namespace) -> int:
    from tracker.batch import check_distinct_outputs, output_dir, track_video_steps
    from tracker.models import ModelCache, check_device
    from tracker.result_folder import remove_interrupted
    from tracker.stepping import describe_job_error, run_together

    try:
        if args.ray is None:  # on a cluster, each worker checks its own node's device
            check_device(args.device)
        check_distinct_outputs(args.inputs, args.out)
        limits = video_limits(args)
    except ValueError as error:
        logger.error("%s", error)
        return 2
    if args.batch_videos < 1:
        logger.error("--batch-videos must be at least 1, got %d", args.batch_videos)
        return 2
    if args.ray is not None and args.text is not None:
        logger.error("--text does not run on a Ray cluster yet; track without --ray")
        return 2
    if args.ray is not None:
        return _track_on_ray(args, limits)
    if not _obtain_models(args, fall_back=True):
        return 2
    for folder in remove_interrupted(args.out):
        logger.info("%s: removed what an interrupted run had left", folder)
    models = ModelCache()
    failures = 0
    bars: dict[int, tuple[tqdm, int]] = {}  # job -> its progress bar and screen row
    free_rows = list(range(1, args.batch_videos + 1))

    def job(index: int, source: str):
        row = free_rows.pop(0)
        bar = tqdm(desc=Path(source).name, unit="frame", position=row, leave=False)
        bars[index] = (bar, row)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return track_video_steps(
            source, args.out, mask=args.mask, prompts=args.prompts, init=args.init,
            formats=args.formats, sam=args.sam,
            sam_gap=args.sam_gap, min_area=args.min_area, limits=limits, models=models,
            skip_finished=not args.force, on_progress=progress,
            tracking=tracking_options(args), text=args.text, detector=args.detector,
            text_config=text_config(args))

    jobs = (job(i, source) for i, source in enumerate(args.inputs))
    with logging_redirect_tqdm(), tqdm(total=len(args.inputs), desc="videos", unit="video",
                                       position=0) as overall, \
            contextlib.closing(run_together(jobs, args.batch_videos)) as outcomes:
        for index, outcome in outcomes:
            source = args.inputs[index]
            bar, row = bars.pop(index)
            bar.close()
            free_rows.append(row)
            free_rows.sort()
            if isinstance(outcome, Exception):
                failures += 1
                message = describe_job_error(outcome)
                for prefix in (f"{source}: ", f"{Path(source).name}: "):
                    message = message.removeprefix(prefix)
                logger.error("%s: %s", source, message)
            elif not outcome.skipped:  # a skip was logged, with its reason, as it was made
                logger.info("%s: %d frames, %d objects in %.1f s -> %s", source,
                            outcome.frames, outcome.objects, outcome.seconds,
                            output_dir(source, args.out))
            overall.update(1)
    if failures:
        logger.error("%d of %d videos failed", failures, len(args.inputs))
    return 1 if failures else 0


def _track_on_ray(args: argparse.Namespace, limits) -> int:
    """``track --ray``: the same run on a Ray cluster (see docs/cluster.md). Ray is imported
    here only, and models are obtained by each worker on its own node."""
    from tracker.cluster import ClusterConfig, ClusterSetupError, track_on_ray

    address = args.ray or None
    if address not in (None, "local", "auto") and Path(address).exists():
        logger.error("--ray took %s, an input, as the cluster's address: give the address "
                     "(--ray auto, --ray local) or put --ray after the inputs", address)
        return 2
    try:
        config = ClusterConfig(
            address=address, workers=args.workers, cpus_per_worker=args.cpus_per_worker,
            gpus_per_worker=args.gpus_per_worker, retries=args.retries,
            batch_videos=args.batch_videos, threads=args.threads, offline=args.offline)
        run = track_on_ray(
            args.inputs, args.out, mask=args.mask, prompts=args.prompts, init=args.init,
            formats=args.formats, tracking=tracking_options(args), sam=args.sam,
            sam_gap=args.sam_gap, min_area=args.min_area, limits=limits,
            skip_finished=not args.force, cluster=config)
    except (ClusterSetupError, ValueError) as error:
        logger.error("%s", error)
        return 2
    print(run.table())
    if run.failures:
        logger.error("%d of %d videos failed", run.failures, len(args.inputs))
    return 1 if run.failures else 0


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


def _bench_synthetic(args: argparse.Namespace) -> int:
    import tempfile
    from dataclasses import replace

    from tracker.models import ModelCache
    from tracker.synthetic_benchmark import HELD_OUT_SEED, describe, run_synthetic_benchmark

    if not _obtain_models(args, fall_back=False):  # a benchmark measures the model named
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


def _format_list(text: str) -> tuple[str, ...]:
    """``--formats``: comma-separated names from :data:`tracker.formats.FORMATS`."""
    from tracker.formats import parse_formats

    try:
        return parse_formats(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _amount(text: str) -> float:
    """``--cpus-per-worker``, ``--gpus-per-worker``: a resource amount, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from tracker.formats import DEFAULT_FORMATS, FORMATS

    installed = Path(sys.argv[0]).name == "clicktrack"
    parser = argparse.ArgumentParser(prog="clicktrack" if installed else "python -m tracker",
                                     description="Segment and track objects through videos.")
    commands = parser.add_subparsers(dest="command", required=True)

    track = commands.add_parser("track", help="track objects through videos")
    track.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="video files, folders of frames or zips of frames")
    track.add_argument("--out", required=True, type=Path, help="output folder")
    first = track.add_mutually_exclusive_group(required=True)
    first.add_argument("--mask", type=Path, help="PNG of object ids for frame 0")
    first.add_argument("--prompts", type=Path, help="prompts JSON (clicks and boxes)")
    first.add_argument("--init", type=Path, metavar="FILE",
                       help="annotations to start from, in any format of --formats (e.g. a "
                            "CVAT or Label Studio export of a few keyframes): masks annotate "
                            "their frames, boxes prompt the segmenter; the results are also "
                            "written in that format")
    first.add_argument("--text", metavar="PROMPT",
                       help="find the objects a text prompt names on frame 0, e.g. "
                            "'person . bicycle' (Grounding DINO boxes, segmented); with "
                            "--sam-gap N, new ones every N frames (pip install "
                            "'clicktrack[text]')")
    track.add_argument("--formats", type=_format_list, default=",".join(DEFAULT_FORMATS),
                       metavar="LIST", help="comma-separated formats to write into each "
                       f"output folder, of: {', '.join(FORMATS)} (default: %(default)s; "
                       "see docs/formats.md)")
    add_deaot_arguments(track)
    track.add_argument("--sam", help="SAM or SAM 2.1 model name or checkpoint path, or an "
                       "offline segmenter: geodesic_grabcut (the default without SAM) or "
                       "grabcut")
    track.add_argument("--sam-gap", type=non_negative, default=0,
                       help="look for new objects every N frames (0: off): those --text "
                            "names, else everything SAM finds")
    track.add_argument("--min-area", type=non_negative, default=200,
                       help="smallest new object (px)")
    track.add_argument("--force", action="store_true",
                       help="redo finished videos, even current ones")
    add_text_arguments(track)
    add_limit_arguments(track)
    track.add_argument("--batch-videos", type=int, default=1, metavar="N",
                       help="track N videos at once, their DeAOT steps batched together "
                            "(a throughput gain on a GPU; frame sizes may differ)")
    cluster = track.add_argument_group("on a Ray cluster (pip install 'clicktrack[cluster]'; "
                                       "see docs/cluster.md)")
    cluster.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                         help="track on Ray workers: local = start a Ray runtime on this "
                              "machine; auto or an address (HOST:6379, ray://HOST:10001) = "
                              "join a running cluster; no value = what ray.init() does. "
                              "Inputs and --out must be paths every node sees")
    cluster.add_argument("--workers", type=positive, metavar="N",
                         help="worker actors (default: as many as the cluster's GPUs, or "
                              "CPUs, hold)")
    cluster.add_argument("--cpus-per-worker", type=_amount, default=1.0, metavar="N",
                         help="CPUs each worker asks Ray for (default: %(default)s)")
    cluster.add_argument("--gpus-per-worker", type=_amount, metavar="N",
                         help="GPUs each worker asks Ray for (default: 1 with --device cuda, "
                              "else 0)")
    cluster.add_argument("--retries", type=non_negative, default=2, metavar="N",
                         help="retry a video whose worker died under it N times, each on "
                              "another worker (default: %(default)s)")
    track.set_defaults(run=_track)

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
    add_segmenter_benchmark(commands)
    return parser


def _bench_vos(args: argparse.Namespace) -> int:
    import tempfile

    from tracker.evaluate import EvaluationError
    from tracker.vos_benchmark import run_vos_benchmark

    if not _obtain_models(args, fall_back=False):
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="clicktrack-vos-"))
    try:
        result = run_vos_benchmark(args.data, out, args.sequences, args.frames,
                                   tracking=tracking_options(args))
    except EvaluationError as error:
        logger.error("%s", error)
        return 2
    return _show(result, args.report)


def _show(result, report: Path | None) -> int:
    """Print a benchmark's table, write its ``--report`` if asked; the exit status (0)."""
    print(result.table())
    if report is not None:
        result.write(report)
    return 0


def _click_segmenter(name: str, device: str):
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
    from tracker.click_benchmark import run_click_benchmark

    if not _obtain_models(args, fall_back=False):
        return 2
    try:
        segmenter = _click_segmenter(args.segmenter, args.device)
        result = run_click_benchmark(args.data, segmenter, args.clicks, args.sequences)
    except (ValueError, FileNotFoundError, ImportError) as error:  # ImportError: no sam2
        logger.error("%s", error)
        return 2
    return _show(result, args.report)


def main(argv: list[str] | None = None) -> int:
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
