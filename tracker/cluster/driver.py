"""The driver of a cluster run: connects to Ray, starts the workers, hands out the videos
and gathers results, progress and failures.

Scheduling is the driver's: a video goes to one idle worker at a time (``batch_videos`` at
a time with ``--batch-videos``), so a video's result is written by exactly one worker; the
:class:`~tracker.result_folder.ResultFolder` lock and swap make that hold on the shared
output path even if a worker thought lost is still running. When a worker dies under a
video (Ray raises :class:`ray.exceptions.RayActorError` or a sibling), the video goes back
to the front of the queue, marked to avoid that worker, and is tried again up to
``retries`` times; Ray restarts the worker itself (``max_restarts``), and the driver hands
it work again once it answers. Results arrive in completion order (``ray.wait``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from tracker.batch import check_distinct_outputs, output_dir
from tracker.cluster.config import (
    DONE,
    FAILED,
    ClusterConfig,
    ClusterRun,
    ClusterSetupError,
    VideoOutcome,
    VideoRecord,
    VideoSettings,
    WorkerInfo,
    WorkerProgress,
)
from tracker.cluster.worker import VideoWorker, progress_board_class
from tracker.formats import DEFAULT_FORMATS
from tracker.result_folder import remove_interrupted
from tracker.tracking_options import TrackingOptions
from tracker.video_limits import VideoLimits

logger = logging.getLogger(__name__)

#: How often the driver says that no worker is up yet.
STALL_WARNING_SECONDS = 60.0
#: The object store of a runtime started with ``--ray local``: results are a few hundred
#: bytes, so a small store keeps a local runtime light.
LOCAL_OBJECT_STORE_BYTES = 256 * 2 ** 20
INSTALL_HINT = ("pip install 'clicktrack[cluster]' (or pip install -r requirements-cluster.txt) "
                "on the driver and on every node")

STARTING, IDLE, BUSY, RESTARTING, GONE = "starting", "idle", "busy", "restarting", "gone"


def import_ray() -> Any:
    """The ``ray`` module, or :class:`ClusterSetupError` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ClusterSetupError(f"Ray is not installed ({error}): {INSTALL_HINT}") from None
    return ray


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
    with _connected(ray, cluster):
        for folder in remove_interrupted(out):
            logger.info("%s: removed what an interrupted run had left", folder)
        videos = [_Video(VideoRecord(Path(source), output_dir(source, out)), index,
                         str(Path(source).absolute())) for index, source in enumerate(inputs)]
        bar = tqdm(desc=f"videos 0/{len(videos)}", unit="frame", disable=not progress_bar,
                   dynamic_ncols=True)
        redirect = logging_redirect_tqdm() if progress_bar else contextlib.nullcontext()
        with redirect, bar:
            run = _Scheduler(ray, videos, out, settings, cluster, bar, on_progress).run()
    logger.info("%s", run.describe())
    return run


def _absolute(path: str | os.PathLike | None) -> str | None:
    return None if path is None else str(Path(path).absolute())


@contextlib.contextmanager
def _connected(ray: Any, config: ClusterConfig) -> Iterator[None]:
    """Ray connected for the block: an existing connection as it is, else ``ray.init`` for
    ``config.address`` (shut down again afterwards)."""
    if ray.is_initialized():
        yield
        return
    options: dict[str, Any] = {}
    if config.address == "local":
        options = {"num_cpus": config.local_cpus, "include_dashboard": False,
                   "object_store_memory": LOCAL_OBJECT_STORE_BYTES}
    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(address=config.address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"at {config.address}" if config.address else "(no address given)"
        raise ClusterSetupError(f"cannot start or reach a Ray cluster {where}: {error}") \
            from None
    finally:
        if main:  # ray.init makes SIGTERM exit at once; keep it a Ctrl-C (tracker.interrupts)
            signal.signal(signal.SIGTERM, sigterm)
    try:
        yield
    finally:
        ray.shutdown()


@dataclass
class _Video:
    """One input's place in the run."""

    record: VideoRecord
    index: int
    source: str  # absolute
    attempt: int = 0
    avoid: set[int] = field(default_factory=set)  # workers it was lost on
    losses: list[str] = field(default_factory=list)
    done: int = 0  # frames, in the current attempt
    total: int | None = None
    finished: bool = False


@dataclass
class _Worker:
    """One worker actor and what the driver knows of it."""

    number: int
    handle: Any
    info: WorkerInfo | None = None
    state: str = STARTING
    why_gone: str = ""

    def __str__(self) -> str:
        return str(self.info) if self.info else f"w{self.number}"


class _Scheduler:
    """The driver's loop: hands videos to idle workers, gathers what comes back."""

    def __init__(self, ray: Any, videos: list[_Video], out: Path, settings: VideoSettings,
                 config: ClusterConfig, bar: tqdm,
                 on_progress: Callable[[WorkerProgress], None] | None) -> None:
        self.ray, self.videos, self.out = ray, videos, out
        self.settings, self.config, self.bar = settings, config, bar
        self.on_progress = on_progress
        self.pending: deque[_Video] = deque(videos)
        self.workers: list[_Worker] = []
        self.calls: dict[Any, tuple[_Worker, list[_Video]]] = {}  # track() in flight
        self.probes: dict[Any, _Worker] = {}  # ready() in flight: starting or restarting
        self.dispatched = False
        self.drained_at = 0.0
        self.stalled_since: float | None = None
        self.warned_at = 0.0
        exceptions = ray.exceptions
        self.lost_errors = (exceptions.RayActorError, exceptions.WorkerCrashedError,
                            exceptions.NodeDiedError, exceptions.OutOfMemoryError,
                            exceptions.ObjectLostError, exceptions.LocalRayletDiedError)

    def run(self) -> ClusterRun:
        began = time.perf_counter()
        self.board_name = f"clicktrack-progress-{uuid.uuid4().hex}"
        self.board = self.ray.remote(progress_board_class()).options(
            name=self.board_name, num_cpus=0).remote()
        interrupted = False
        try:
            self._start_workers()
            while not all(video.finished for video in self.videos):
                self._assign()
                self._wait()
                self._drain_progress()
        except BaseException:
            interrupted = True
            raise
        finally:
            self._stop(interrupted)
        return ClusterRun([video.record for video in self.videos], len(self.workers),
                          time.perf_counter() - began)

    # -- workers ----------------------------------------------------------------------------

    def _start_workers(self) -> None:
        config, device = self.config, self.settings.tracking.device
        gpus = config.gpus(device)
        resources = self.ray.cluster_resources()
        cpus_here, gpus_here = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
        count = config.workers or int(gpus_here // gpus if gpus else
                                      cpus_here // config.cpus_per_worker)
        count = max(1, min(count, math.ceil(len(self.videos) / config.batch_videos)))
        nodes = sum(node["Alive"] for node in self.ray.nodes())
        logger.info("Ray cluster of %g CPUs and %g GPUs on %d node%s: starting %d worker%s of "
                    "%g CPU and %g GPU each", cpus_here, gpus_here, nodes,
                    "s" if nodes != 1 else "", count, "s" if count != 1 else "",
                    config.cpus_per_worker, gpus)
        if cpus_here < config.cpus_per_worker or gpus_here < gpus:
            logger.warning("the cluster has too few CPUs or GPUs now for one worker: the "
                           "workers wait until a node that has them joins (an autoscaler "
                           "adds one), or lower --cpus-per-worker / --gpus-per-worker")
        actor = self.ray.remote(VideoWorker).options(
            num_cpus=config.cpus_per_worker, num_gpus=gpus, max_restarts=config.worker_restarts,
            max_task_retries=0)
        for number in range(1, count + 1):
            handle = actor.remote(number, self.settings, config.worker_threads(),
                                  config.offline, self.board_name, config.progress_seconds)
            worker = _Worker(number, handle)
            self.workers.append(worker)
            self._probe(worker)

    def _probe(self, worker: _Worker) -> None:
        """Ask ``worker`` whether it is ready; Ray holds the question while the worker
        starts or restarts, and answers ActorDiedError once it will not come back."""
        self.probes[worker.handle.ready.options(max_task_retries=-1).remote()] = worker

    def _usable(self, worker: _Worker) -> bool:
        return worker.state != GONE

    def _worker_ready(self, ref: Any, worker: _Worker) -> None:
        """A worker answered ``ready()``: started, back after a restart, or dead for good."""
        try:
            info, setup_error, logs = self.ray.get(ref)
        except self.lost_errors as error:
            self._retire(worker, _reason(error))
            return
        _relay(logs)
        back = worker.state == RESTARTING
        worker.info = info
        if setup_error is not None:
            self._retire(worker, setup_error)
            return
        worker.state = IDLE
        logger.info("%s %s", worker, "is back, restarted by Ray" if back else "is ready")

    def _retire(self, worker: _Worker, why: str) -> None:
        """Take a worker out of the pool for good; with none left, fail what remains."""
        worker.state, worker.why_gone = GONE, why
        logger.error("%s leaves the pool: %s", worker, why)
        if any(self._usable(w) for w in self.workers):
            return
        reasons = "; ".join(dict.fromkeys(w.why_gone for w in self.workers))
        if not self.dispatched:
            raise ClusterSetupError(f"no worker could start: {reasons}")
        for video in list(self.pending):
            self._fail(video, f"no worker left to track it ({reasons})")
        self.pending.clear()

    # -- handing out and gathering -----------------------------------------------------------

    def _assign(self) -> None:
        """Give each idle worker its next videos."""
        for worker in self.workers:
            if worker.state != IDLE or not self.pending:
                continue
            batch = self._take(worker)
            if not batch:
                continue
            for video in batch:
                video.attempt += 1
                video.done = 0
                video.record.attempts = video.attempt
                video.record.worker = worker.info
            tasks = [(v.index, v.source, str(self.out), v.attempt) for v in batch]
            self.calls[worker.handle.track.remote(tasks)] = (worker, batch)
            worker.state = BUSY
            self.dispatched = True

    def _take(self, worker: _Worker) -> list[_Video]:
        """Up to ``batch_videos`` pending videos for ``worker``: none that was lost on it
        while another usable worker could take it."""
        taken = []
        for video in list(self.pending):
            if len(taken) == self.config.batch_videos:
                break
            elsewhere = any(self._usable(w) and w.number not in video.avoid
                            for w in self.workers if w is not worker)
            if worker.number in video.avoid and elsewhere:
                continue
            self.pending.remove(video)
            taken.append(video)
        return taken

    def _wait(self) -> None:
        """Handle every call and probe that finishes within ``progress_seconds``."""
        refs = [*self.calls, *self.probes]
        if not refs:
            if self.pending:  # cannot happen while a worker is usable; guard against a hang
                for video in list(self.pending):
                    self._fail(video, "no worker left to track it")
                self.pending.clear()
            return
        self._warn_if_stalled()
        ready, rest = self.ray.wait(refs, num_returns=1,
                                    timeout=self.config.progress_seconds)
        if ready and rest:
            more, _ = self.ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        for ref in ready:
            if ref in self.probes:
                self._worker_ready(ref, self.probes.pop(ref))
            else:
                self._call_done(ref, *self.calls.pop(ref))

    def _warn_if_stalled(self) -> None:
        """Say so, once a minute, while no worker is up and some are still starting."""
        if self.calls or not self.probes:
            self.stalled_since = None
            return
        now = time.monotonic()
        if self.stalled_since is None:
            self.stalled_since, self.warned_at = now, now
        elif now - self.warned_at >= STALL_WARNING_SECONDS:
            self.warned_at = now
            logger.warning("no worker is running after %.0f s: %d still starting (the cluster "
                           "may lack the CPUs or GPUs they ask for; `ray status` shows it)",
                           now - self.stalled_since, len(self.probes))

    def _call_done(self, ref: Any, worker: _Worker, batch: list[_Video]) -> None:
        """A ``track()`` call ended: its results, or the worker was lost under it."""
        try:
            outcomes: list[VideoOutcome] = self.ray.get(ref)
        except self.lost_errors as error:
            reason = _reason(error)
            logger.warning("%s was lost: %s", worker, reason)
            worker.state = RESTARTING
            self._probe(worker)
            for video in reversed(batch):  # back to the front of the queue, in order
                self._lost(video, worker, reason)
            return
        except self.ray.exceptions.RayError as error:  # a bug, not the video: fail alone
            worker.state = IDLE
            for video in batch:
                self._fail(video, f"worker error: {_reason(error)}")
            return
        worker.state = IDLE
        for outcome in outcomes:
            self._finish(self.videos[outcome.index], outcome)

    def _lost(self, video: _Video, worker: _Worker, reason: str) -> None:
        """``video``'s worker died under it: try it again elsewhere, or give up."""
        name = video.record.input.name
        video.losses.append(f"{worker} lost: {reason}")
        self.bar.update(-video.done)
        video.done = 0
        tries = len(video.losses)
        if tries <= self.config.retries:
            video.avoid.add(worker.number)
            self.pending.appendleft(video)
            elsewhere = any(self._usable(w) and w.number not in video.avoid
                            for w in self.workers)
            logger.warning("%s: its worker %s died mid-video; retrying on %s (retry %d of %d)",
                           name, worker, "another worker" if elsewhere else
                           "the same worker once Ray restarts it (there is no other)", tries,
                           self.config.retries)
        else:
            self._fail(video, f"failed after {tries} tr{'y' if tries == 1 else 'ies'}, its "
                              f"worker dying under it each time; the last: {worker} lost: "
                              f"{reason}")

    def _finish(self, video: _Video, outcome: VideoOutcome) -> None:
        """Take a worker's outcome for ``video``."""
        if outcome.attempt != video.attempt or video.finished:
            return
        _relay(outcome.logs)
        record = video.record
        record.status, record.worker = outcome.status, outcome.worker
        record.frames, record.objects = outcome.frames, outcome.objects
        record.seconds, record.redone = outcome.seconds, outcome.redone
        record.cpu_seconds = outcome.cpu_seconds
        if outcome.status == FAILED:
            self._fail(video, outcome.message)
            return
        if video.losses:
            record.message = "retried after: " + "; ".join(video.losses)
        frames = outcome.frames if outcome.status == DONE else 0
        self.bar.update(frames - video.done)
        video.done = video.total = frames
        if outcome.status == DONE:
            logger.info("%s: %d frames, %d objects in %.1f s -> %s on %s", record.input,
                        outcome.frames, outcome.objects, outcome.seconds, record.out_dir,
                        outcome.worker)
        self._finished(video)

    def _fail(self, video: _Video, message: str) -> None:
        video.record.status, video.record.message = FAILED, message
        logger.error("%s: %s", video.record.input, message)
        video.total = video.done  # what it had tracked stays counted
        self._finished(video)

    def _finished(self, video: _Video) -> None:
        video.finished = True
        finished = sum(v.finished for v in self.videos)
        self.bar.set_description(f"videos {finished}/{len(self.videos)}", refresh=False)
        self._estimate_total()

    # -- progress ----------------------------------------------------------------------------

    def _drain_progress(self) -> None:
        """Apply the workers' progress reports to the bar (and ``on_progress``), at most
        once every ``progress_seconds``."""
        now = time.monotonic()
        if now - self.drained_at < self.config.progress_seconds:
            return
        self.drained_at = now
        try:
            reports = self.ray.get(self.board.drain.remote(), timeout=10)
        except Exception as error:  # the board is gone or slow: progress only, not results
            logger.debug("progress unavailable: %s", error)
            return
        for index, attempt, worker, pid, host, done, total in reports:
            video = self.videos[index]
            if video.finished or attempt != video.attempt:
                continue  # a report of an attempt that was lost
            self.bar.update(done - video.done)
            video.done = done
            if video.total != total:
                video.total = total
                self._estimate_total()
            if self.on_progress is not None:
                self.on_progress(WorkerProgress(WorkerInfo(worker, pid, host), index,
                                                video.record.input, attempt, done, total))
        if reports:
            self.bar.set_postfix_str(f"{sum(w.state == BUSY for w in self.workers)} of "
                                     f"{len(self.workers)} workers busy", refresh=False)
            self.bar.refresh()

    def _estimate_total(self) -> None:
        """The bar's total: the frames of every video whose size is known, and the mean of
        those for each video not started yet."""
        known = [v.total for v in self.videos if v.total is not None]
        if not known:
            return
        unknown = sum(v.total is None and not v.finished for v in self.videos)
        self.bar.total = sum(known) + round(unknown * sum(known) / len(known))
        self.bar.refresh()

    # -- stopping -----------------------------------------------------------------------------

    def _stop(self, interrupted: bool) -> None:
        """End the run's actors; interrupted, first let the running videos stop cleanly."""
        ray = self.ray
        if interrupted and self.calls:
            logger.warning("stopping the cluster's work (videos in progress: %d): finished "
                           "results stay valid, and a rerun continues with the rest",
                           sum(len(batch) for _, batch in self.calls.values()))
            for ref in self.calls:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
            with contextlib.suppress(BaseException):  # a second Ctrl-C ends the wait
                ray.wait(list(self.calls), num_returns=len(self.calls),
                         timeout=self.config.stop_grace_seconds)
        for worker in self.workers:
            with contextlib.suppress(Exception):
                ray.kill(worker.handle, no_restart=True)
        with contextlib.suppress(Exception):
            ray.kill(self.board)
        if interrupted:
            with contextlib.suppress(Exception):  # what a worker killed mid-write left
                for folder in remove_interrupted(self.out):
                    logger.info("%s: removed what an interrupted run had left", folder)


def _relay(logs: Sequence[tuple[str, int, str]]) -> None:
    """Log a worker's records on the driver, under their own loggers."""
    for name, level, message in logs:
        logging.getLogger(name).log(level, "%s", message)


def _reason(error: BaseException) -> str:
    """A Ray error in one line: its type and the first line of what it says."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = next((line for line in lines if not line.startswith(("Traceback", "File "))), "")
    if len(first) > 200:
        first = first[:197] + "..."
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
