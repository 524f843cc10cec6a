"""The driver of a cluster run: :func:`track_on_ray`, the entry point, connects to Ray
(:mod:`tracker.cluster.connection`), lays out the videos and runs the
:class:`~tracker.cluster.scheduler.Scheduler`, which starts the workers, hands out the
videos and gathers results and failures, under one progress bar
(:mod:`tracker.cluster.progress`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from tracker.batch import check_distinct_outputs, output_dir
from tracker.cluster.config import (
    ClusterConfig,
    ClusterRun,
    VideoRecord,
    VideoSettings,
    WorkerProgress,
)
from tracker.cluster.connection import connected, import_ray
from tracker.cluster.progress import cluster_bar
from tracker.cluster.scheduler import Scheduler, Video
from tracker.formats import DEFAULT_FORMATS
from tracker.result_folder import remove_interrupted
from tracker.tracking_options import TrackingOptions
from tracker.video_limits import VideoLimits

logger = logging.getLogger(__name__)


def track_on_ray(inputs: Sequence[str | os.PathLike], out: str | os.PathLike,
                 mask: str | os.PathLike | None = None,
                 prompts: str | os.PathLike | None = None, *,
                 init: str | os.PathLike | None = None,
                 formats: Sequence[str] = DEFAULT_FORMATS,
                 tracking: TrackingOptions = TrackingOptions(), sam: str | None = None,
                 sam_gap: int = 0, min_area: int = 200,
                 limits: VideoLimits = VideoLimits(), skip_finished: bool = True,
                 cluster: ClusterConfig = ClusterConfig(), progress_bar: bool = True,
                 on_progress: Callable[[WorkerProgress], None] | None = None) -> ClusterRun:
    """Track many videos on a Ray cluster, each exactly once, into ``out/<stem>/``.

    The tracking arguments are those of :func:`tracker.batch.track_video` and mean the same;
    every path (inputs, ``out``, the mask, prompts or annotation file) must be one that every
    node sees under the same name: a shared filesystem. Each worker loads the models once,
    from its node's checkpoint folder, downloading a named registry model the node lacks.

    Args:
        inputs: videos, folders of frames or zips of frames.
        out: the output root, on the shared filesystem.
        cluster: where Ray runs and how the workers are shaped.
        progress_bar: draw one tqdm bar for the whole run on stderr.
        on_progress: called on the driver with each progress report of a worker.

    Returns:
        The run's records (one per input, in order), worker count and wall time. A video
        that failed is in the records with its reason; nothing is raised for it.

    Raises:
        ValueError: two inputs would share an output folder, or not exactly one of
            ``mask``, ``prompts`` and ``init`` was given.
        ClusterSetupError: Ray is missing, the cluster cannot be reached, or no worker could
            start (its node lacks the device or a model that cannot be had).
        KeyboardInterrupt: Ctrl-C (or SIGTERM under
            :func:`tracker.interrupts.sigterm_as_ctrl_c`): the cluster's work was stopped,
            finished results are intact and a rerun continues with the rest.
    """
    if sum(a is not None for a in (mask, prompts, init)) != 1:
        raise ValueError("give exactly one of a first-frame mask, a prompts file or an "
                         "annotation file to start from")
    check_distinct_outputs(inputs, out)
    settings = VideoSettings(
        mask=_absolute(mask), prompts=_absolute(prompts), init=_absolute(init),
        formats=tuple(formats), tracking=tracking, sam=sam, sam_gap=sam_gap,
        min_area=min_area, limits=limits, skip_finished=skip_finished)
    out = Path(out).absolute()
    if not inputs:
        return ClusterRun()
    ray = import_ray()
    with connected(ray, cluster):
        for folder in remove_interrupted(out):
            logger.info("%s: removed what an interrupted run had left", folder)
        videos = [Video(VideoRecord(Path(source), output_dir(source, out)), index,
                        str(Path(source).absolute())) for index, source in enumerate(inputs)]
        with cluster_bar(len(videos), progress_bar) as bar:
            run = Scheduler(ray, videos, out, settings, cluster, bar, on_progress).run()
    logger.info("%s", run.describe())
    return run


def _absolute(path: str | os.PathLike | None) -> str | None:
    return None if path is None else str(Path(path).absolute())
