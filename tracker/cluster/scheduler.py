"""The scheduling of a cluster run, on the driver: starting the worker actors, handing out
the videos, gathering the results, retrying the videos of lost workers and stopping.

A video goes to one idle worker at a time (``batch_videos`` at a time with
``--batch-videos``), so a video's result is written by exactly one worker; the
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
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

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
from tracker.cluster.progress import ClusterProgress, relay_logs
from tracker.cluster.worker import VideoWorker
from tracker.result_folder import remove_interrupted

logger = logging.getLogger(__name__)

#: How often the driver says that no worker is up yet.
STALL_WARNING_SECONDS = 60.0

STARTING, IDLE, BUSY, RESTARTING, GONE = "starting", "idle", "busy", "restarting", "gone"


@dataclass
class Video:
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


class Scheduler:
    """The driver's loop: hands videos to idle workers, gathers what comes back."""

    def __init__(self, ray: Any, videos: list[Video], out: Path, settings: VideoSettings,
                 config: ClusterConfig, bar: tqdm,
                 on_progress: Callable[[WorkerProgress], None] | None) -> None:
        self.ray, self.videos, self.out = ray, videos, out
        self.settings, self.config, self.bar = settings, config, bar
        self.on_progress = on_progress
        self.pending: deque[Video] = deque(videos)
        self.workers: list[_Worker] = []
        self.calls: dict[Any, tuple[_Worker, list[Video]]] = {}  # track() in flight
        self.probes: dict[Any, _Worker] = {}  # ready() in flight: starting or restarting
        self.dispatched = False
        self.stalled_since: float | None = None
        self.warned_at = 0.0
        exceptions = ray.exceptions
        self.lost_errors = (exceptions.RayActorError, exceptions.WorkerCrashedError,
                            exceptions.NodeDiedError, exceptions.OutOfMemoryError,
                            exceptions.ObjectLostError, exceptions.LocalRayletDiedError)

    def run(self) -> ClusterRun:
        """Track every video; the run's records, worker count and wall time."""
        began = time.perf_counter()
        self.progress = ClusterProgress(self.ray, self.videos, self.bar,
                                        self.config.progress_seconds, self.on_progress)
        interrupted = False
        try:
            self._start_workers()
            while not all(video.finished for video in self.videos):
                self._assign()
                self._wait()
                self.progress.drain(sum(w.state == BUSY for w in self.workers),
                                    len(self.workers))
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
                                  config.offline, self.progress.board_name,
                                  config.progress_seconds)
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
        relay_logs(logs)
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

    def _take(self, worker: _Worker) -> list[Video]:
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

    def _call_done(self, ref: Any, worker: _Worker, batch: list[Video]) -> None:
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

    def _lost(self, video: Video, worker: _Worker, reason: str) -> None:
        """``video``'s worker died under it: try it again elsewhere, or give up."""
        name = video.record.input.name
        video.losses.append(f"{worker} lost: {reason}")
        self.progress.drop(video)
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

    def _finish(self, video: Video, outcome: VideoOutcome) -> None:
        """Take a worker's outcome for ``video``."""
        if outcome.attempt != video.attempt or video.finished:
            return
        relay_logs(outcome.logs)
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
        self.progress.settle(video, outcome.frames if outcome.status == DONE else 0)
        if outcome.status == DONE:
            logger.info("%s: %d frames, %d objects in %.1f s -> %s on %s", record.input,
                        outcome.frames, outcome.objects, outcome.seconds, record.out_dir,
                        outcome.worker)
        self._finished(video)

    def _fail(self, video: Video, message: str) -> None:
        video.record.status, video.record.message = FAILED, message
        logger.error("%s: %s", video.record.input, message)
        self.progress.settle(video)  # what it had tracked stays counted
        self._finished(video)

    def _finished(self, video: Video) -> None:
        video.finished = True
        self.progress.finished()

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
        self.progress.close()
        if interrupted:
            with contextlib.suppress(Exception):  # what a worker killed mid-write left
                for folder in remove_interrupted(self.out):
                    logger.info("%s: removed what an interrupted run had left", folder)


def _reason(error: BaseException) -> str:
    """A Ray error in one line: its type and the first line of what it says."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = next((line for line in lines if not line.startswith(("Traceback", "File "))), "")
    if len(first) > 200:
        first = first[:197] + "..."
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
