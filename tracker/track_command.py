"""The ``track`` subcommand of ``python -m tracker``: its options, the run on this
machine (videos in lock step, one progress bar each) and the run on a Ray cluster."""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from tracker.cli_options import (
    add_deaot_arguments,
    add_limit_arguments,
    add_text_arguments,
    non_negative,
    obtain_models,
    positive,
    text_config,
    tracking_options,
    video_limits,
)

if TYPE_CHECKING:
    from tracker.video_limits import VideoLimits

logger = logging.getLogger(__name__)


def add_track_command(commands: argparse._SubParsersAction) -> None:
    """The ``track`` subcommand."""
    from tracker.formats import DEFAULT_FORMATS, FORMATS

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


def _track(args: argparse.Namespace) -> int:
    """``track``: every input into ``--out/<stem>/``, ``--batch-videos`` at a time; with
    ``--ray``, on a Ray cluster. The exit status: 0, 1 when a video failed, 2 when the
    options are wrong or a named model cannot be had."""
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
    if not obtain_models(args, fall_back=True):
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


def _track_on_ray(args: argparse.Namespace, limits: VideoLimits) -> int:
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
