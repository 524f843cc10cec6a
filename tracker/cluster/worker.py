"""The worker of a cluster run: one process (a Ray actor) that loads the models once and
tracks the videos the driver hands it, one after another or ``batch_videos`` at a time.

:class:`VideoWorker` is a plain class; :mod:`tracker.cluster.scheduler` makes it a Ray actor
with the CPUs and GPUs it asks for. Each video goes through
:func:`tracker.batch.track_video_steps`, so everything the single-machine command does
holds here too: the fingerprint and skip logic, and the
:class:`~tracker.result_folder.ResultFolder` that writes ``OUT/.<stem>.partial/`` and swaps
it in only when complete, under ``OUT/.<stem>.lock``. A worker killed mid-video leaves only
a ``.partial`` folder, which the next writer of that folder removes.

A worker reports progress to the driver through a small progress board actor, at
most a few times a second and without waiting for an answer, and returns its log records
with each result, so that the driver shows them in order under its one progress bar.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tracker.cluster.config import (
    DONE,
    FAILED,
    SKIPPED,
    VideoOutcome,
    VideoSettings,
    WorkerInfo,
)

logger = logging.getLogger(__name__)

#: The loggers whose records a worker collects and returns with its results.
RELAYED_LOGGERS = ("tracker", "aot")

#: One video for a worker: (index in the run, video path, output root, attempt).
Task = tuple[int, str, str, int]


class _Collector(logging.Handler):
    """Keeps the records of :data:`RELAYED_LOGGERS` until the worker hands them back."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append((record.name, record.levelno, record.getMessage()))
        except Exception:  # a record that cannot be formatted must not end the video
            self.handleError(record)

    def take(self) -> tuple[tuple[str, int, str], ...]:
        records, self.records = tuple(self.records), []
        return records


def progress_board_class() -> type:
    """The class of the run's progress board: a Ray actor of no CPU where the workers'
    progress reports wait for the driver, which the workers find by name (an actor handle
    among a restartable actor's arguments would live in the object store, which Ray warns
    about). It is made here, inside a function, so that Ray ships the class by value and
    its process never imports ClickTrack (and PyTorch with it)."""

    class ProgressBoard:
        def __init__(self) -> None:
            self._reports: list[tuple] = []

        def report(self, item: tuple) -> None:
            """Keep one report: (index, attempt, worker, pid, host, frames done, in all)."""
            self._reports.append(item)

        def drain(self) -> list[tuple]:
            """Every report since the last call, oldest first."""
            reports, self._reports = self._reports, []
            return reports

    return ProgressBoard


class VideoWorker:
    """Tracks videos with one :class:`~tracker.models.ModelCache` for its whole life.

    Args:
        worker: the worker's number in the run (1, 2, ...).
        settings: what every video is tracked with.
        threads: PyTorch and OpenCV threads.
        offline: never download a model this node lacks.
        progress: the name of the run's progress board actor
            (:func:`progress_board_class`), or ``None``.
        report_seconds: seconds between two progress reports of one video (its first and
            last frames are always reported).
    """

    def __init__(self, worker: int, settings: VideoSettings, threads: int = 1,
                 offline: bool = False, progress: str | None = None,
                 report_seconds: float = 1.0) -> None:
        self._collector = _Collector()
        for name in RELAYED_LOGGERS:
            relayed = logging.getLogger(name)
            relayed.setLevel(logging.INFO)
            relayed.addHandler(self._collector)
            relayed.propagate = False  # Ray would print them again from the worker's stderr
        from tracker.models import ModelCache, set_threads

        set_threads(threads)
        self.info = WorkerInfo(worker, os.getpid(), socket.gethostname())
        self._plain_info = (worker, self.info.pid, self.info.host)  # the board needs no import
        self._progress = _board(progress) if progress is not None else None
        self._report_seconds = report_seconds
        self._models = ModelCache()
        self._setup_error: str | None = None
        self._settings = settings
        try:
            self._settings = _obtain_models(settings, offline)
        except Exception as error:  # reported by ready(): the driver decides
            self._setup_error = f"{self.info}: {_describe(error)}"

    def ready(self) -> tuple[WorkerInfo, str | None, tuple[tuple[str, int, str], ...]]:
        """(who this worker is, why it cannot track or ``None``, the log records of its
        start: downloads and warnings)."""
        return self.info, self._setup_error, self._collector.take()

    def pid(self) -> int:
        """The worker's process id."""
        return self.info.pid

    def track(self, tasks: Sequence[Task]) -> list[VideoOutcome]:
        """Track ``tasks`` together (their DeAOT steps batched when there are several) and
        return an outcome for each, in order. An error of one video fails that video alone.
        """
        from tracker.stepping import describe_job_error, run_together

        if self._setup_error is not None:  # the driver sends such a worker nothing; still
            return [VideoOutcome(index, attempt, FAILED, self.info, message=self._setup_error)
                    for index, _, _, attempt in tasks]
        began, cpu = time.perf_counter(), time.process_time()
        outcomes: dict[int, VideoOutcome] = {}
        jobs = (self._job(task) for task in tasks)
        for position, outcome in run_together(jobs, len(tasks)):
            index, source, _, attempt = tasks[position]
            logs = self._collector.take()
            cpu, cpu_seconds = time.process_time(), time.process_time() - cpu
            if isinstance(outcome, Exception):
                message = describe_job_error(outcome)
                for prefix in (f"{source}: ", f"{Path(source).name}: "):
                    message = message.removeprefix(prefix)
                outcomes[index] = VideoOutcome(index, attempt, FAILED, self.info,
                                               seconds=time.perf_counter() - began,
                                               message=message, logs=logs,
                                               cpu_seconds=cpu_seconds)
            else:
                outcomes[index] = VideoOutcome(
                    index, attempt, SKIPPED if outcome.skipped else DONE, self.info,
                    outcome.frames, outcome.objects, outcome.seconds, redone=outcome.redone,
                    logs=logs, cpu_seconds=cpu_seconds)
        return [outcomes[index] for index, *_ in tasks]

    def _job(self, task: Task):
        """The steps of one video (see :func:`tracker.batch.track_video_steps`)."""
        from tracker.batch import track_video_steps

        index, source, out, attempt = task
        s = self._settings
        return track_video_steps(
            source, out, mask=s.mask, prompts=s.prompts, init=s.init, formats=s.formats,
            tracking=s.tracking, sam=s.sam, sam_gap=s.sam_gap, min_area=s.min_area,
            limits=s.limits, models=self._models, skip_finished=s.skip_finished,
            on_progress=self._reporter(index, attempt))

    def _reporter(self, index: int, attempt: int) -> Callable[[int, int], None]:
        """The ``on_progress`` of one video: sends (throttled) reports to the driver, and
        stops the video when the driver cancelled it (Ctrl-C): the ``KeyboardInterrupt``
        unwinds it as on one machine, its unfinished result discarded."""
        last = [0.0]

        def report(done: int, total: int) -> None:
            if _cancelled():
                raise KeyboardInterrupt("the run was stopped")
            now = time.monotonic()
            if self._progress is None or (now - last[0] < self._report_seconds and done < total
                                          and done > 1):
                return
            last[0] = now
            try:  # without waiting for an answer
                self._progress.report.remote((index, attempt, *self._plain_info, done, total))
            except Exception as error:  # the driver is going away; the video goes on
                logger.debug("progress report lost: %s", error)

        return report


def _obtain_models(settings: VideoSettings, offline: bool) -> VideoSettings:
    """``settings`` with the models they name made ready on this node: registry models the
    node lacks are downloaded into its ``checkpoints/`` first, as the single-machine command
    does (but without falling back to other models when there is no network: every node
    must track with the same models)."""
    from tracker.models import check_device
    from tracker.on_demand import obtain

    tracking = settings.tracking
    check_device(tracking.device)
    deaot = obtain(tracking.deaot, "deaot", offline=offline, fall_back=False,
                   device=tracking.device, show_progress=False)
    sam = obtain(settings.sam, "sam", offline=offline, fall_back=False,
                 device=tracking.device, show_progress=False)
    return replace(settings, tracking=replace(tracking, deaot=deaot), sam=sam)


def _describe(error: BaseException) -> str:
    text = str(error)
    return text if isinstance(error, (ValueError, OSError)) and text else \
        f"{type(error).__name__}: {text}" if text else type(error).__name__


def _board(name: str) -> Any:
    """The run's progress board, by name."""
    import ray

    return ray.get_actor(name)


def _cancelled() -> bool:
    """Whether the driver cancelled the task this worker runs (``ray.cancel``)."""
    try:
        import ray

        return ray.get_runtime_context().is_canceled()
    except Exception:  # not in a Ray task (tests, the driver itself)
        return False
