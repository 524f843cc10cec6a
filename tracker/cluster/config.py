"""What a cluster run is told and what it reports: plain data, no Ray.

:class:`ClusterConfig` says where Ray runs and how the workers are shaped;
:class:`VideoSettings` is what every video of the run is tracked with, handed whole to each
worker once; :class:`VideoOutcome` is what a worker returns for one video;
:class:`VideoRecord` and :class:`ClusterRun` are what the run reports: per video the
worker, frames, seconds and status, and the throughput over the whole run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from tracker.formats import DEFAULT_FORMATS
from tracker.tracking_options import TrackingOptions
from tracker.video_limits import VideoLimits

#: A video's status in a run's records.
DONE, SKIPPED, FAILED, NOT_RUN = "done", "skipped", "failed", "not run"


class ClusterSetupError(RuntimeError):
    """The run could not start: Ray is missing, the cluster cannot be reached, or no worker
    could load the models (the CLI exits 2, as for any other setup error)."""


@dataclass(frozen=True)
class ClusterConfig:
    """Where Ray runs and how the workers are shaped.

    Attributes:
        address: ``"local"`` starts a Ray runtime on this machine; ``"auto"`` joins the
            cluster running here (``ray start --head``); ``"HOST:6379"`` or
            ``"ray://HOST:10001"`` joins that one; ``None`` does what ``ray.init()`` does
            (``RAY_ADDRESS``, else a cluster running here, else a new local runtime). When
            Ray is initialized already (``ray.init`` was called by the caller, with its own
            ``runtime_env`` say), that connection is used and this is ignored.
        workers: how many worker actors (default: as many as the cluster's CPUs or GPUs
            hold now, at most one per video).
        cpus_per_worker: CPUs each worker asks Ray for.
        gpus_per_worker: GPUs each worker asks Ray for (default: 1 when tracking on
            ``cuda``, else 0).
        retries: how many times a video whose worker died under it (killed process, lost
            node, out of memory) is tried again, each time on another worker where there is
            one; then it is reported as failed with the reason. An error of the video itself
            (a corrupt file) is not retried: it fails alone, as on one machine.
        batch_videos: videos each worker tracks at once, their DeAOT steps batched
            (``--batch-videos``); a worker takes its next batch when this one is done.
        threads: PyTorch and OpenCV threads in each worker (default: ``cpus_per_worker``,
            at least 1).
        offline: workers never download a model a node lacks.
        worker_restarts: how many times Ray restarts a worker whose process died, before it
            leaves the pool (Ray's ``max_restarts``).
        local_cpus: CPUs of a runtime started with ``address="local"`` (default: all).
        stop_grace_seconds: on Ctrl-C, how long the workers get to drop their unfinished
            videos cleanly before they are killed.
        progress_seconds: how often a worker reports a video's progress and the driver
            shows it (each report is a call between processes: a second keeps it cheap).
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None
    retries: int = 2
    batch_videos: int = 1
    threads: int | None = None
    offline: bool = False
    worker_restarts: int = 3
    local_cpus: int | None = None
    stop_grace_seconds: float = 15.0
    progress_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")
        if not self.cpus_per_worker > 0:
            raise ValueError(f"cpus per worker must be more than 0, got {self.cpus_per_worker}")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise ValueError(f"gpus per worker must be 0 or more, got {self.gpus_per_worker}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, got {self.retries}")
        if self.batch_videos < 1:
            raise ValueError(f"batch videos must be at least 1, got {self.batch_videos}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if not self.progress_seconds > 0:
            raise ValueError(f"progress seconds must be more than 0, got "
                             f"{self.progress_seconds}")
        if self.worker_restarts < 0:
            raise ValueError(f"worker restarts must be 0 or more, got {self.worker_restarts}")

    def gpus(self, device: str) -> float:
        """GPUs per worker for tracking on ``device``."""
        if self.gpus_per_worker is not None:
            return self.gpus_per_worker
        return 1.0 if device.startswith("cuda") else 0.0

    def worker_threads(self) -> int:
        """PyTorch and OpenCV threads per worker."""
        return self.threads or max(1, math.floor(self.cpus_per_worker))


@dataclass(frozen=True)
class VideoSettings:
    """What every video of a run is tracked with: the arguments of
    :func:`tracker.batch.track_video_steps` other than the video, the output root, the
    model cache and the progress callback. Paths are absolute, as every node sees them."""

    mask: str | None = None
    prompts: str | None = None
    init: str | None = None
    formats: tuple[str, ...] = DEFAULT_FORMATS
    tracking: TrackingOptions = TrackingOptions()
    sam: str | None = None
    sam_gap: int = 0
    min_area: int = 200
    limits: VideoLimits = VideoLimits()
    skip_finished: bool = True


@dataclass(frozen=True)
class WorkerInfo:
    """A worker process as it reported itself."""

    worker: int
    pid: int
    host: str

    def __str__(self) -> str:
        return f"w{self.worker} (pid {self.pid} on {self.host})"

    @property
    def short(self) -> str:
        """``w1 pid 123 @host``, for the summary table."""
        return f"w{self.worker} pid {self.pid} @{self.host}"


@dataclass(frozen=True)
class WorkerProgress:
    """One progress report of a worker on one video, as ``on_progress`` receives it."""

    worker: WorkerInfo
    index: int
    video: Path
    attempt: int
    done: int
    total: int


@dataclass(frozen=True)
class VideoOutcome:
    """What a worker returns for one video (no exception objects: strings travel safely).

    Attributes:
        index: the video's place in the run's inputs.
        attempt: which try this was (1 for the first).
        status: :data:`DONE`, :data:`SKIPPED` or :data:`FAILED`.
        worker: the worker that tracked it.
        message: why it failed, as the single-machine command words it.
        logs: the log records the worker made while on it, as (logger, level, message).
        cpu_seconds: the worker process's CPU time since its previous outcome of the same
            call (the whole video when it tracks one at a time).
    """

    index: int
    attempt: int
    status: str
    worker: WorkerInfo
    frames: int = 0
    objects: int = 0
    seconds: float = 0.0
    message: str = ""
    redone: tuple[str, ...] = ()
    logs: tuple[tuple[str, int, str], ...] = ()
    cpu_seconds: float = 0.0


@dataclass
class VideoRecord:
    """One video of a cluster run, as the summary reports it.

    Attributes:
        input: the video as given.
        out_dir: its result folder, ``OUT/<stem>/``.
        status: :data:`DONE`, :data:`SKIPPED`, :data:`FAILED` or :data:`NOT_RUN`
            (the run was stopped first).
        worker: the worker that finished it (or the last one it was on).
        attempts: how many times it was started; more than 1 when workers were lost.
        message: why it failed; for a retried video, which workers were lost under it.
        cpu_seconds: the CPU time its worker spent on it (see
            :attr:`VideoOutcome.cpu_seconds`).
    """

    input: Path
    out_dir: Path
    status: str = NOT_RUN
    worker: WorkerInfo | None = None
    frames: int = 0
    objects: int = 0
    seconds: float = 0.0
    attempts: int = 0
    message: str = ""
    redone: tuple[str, ...] = ()
    cpu_seconds: float = 0.0


@dataclass
class ClusterRun:
    """The outcome of :func:`tracker.cluster.track_on_ray`.

    Attributes:
        records: one per input, in input order.
        workers: how many workers the run started.
        seconds: wall time from starting the workers to the last result.
    """

    records: list[VideoRecord] = field(default_factory=list)
    workers: int = 0
    seconds: float = 0.0

    @property
    def failures(self) -> int:
        """Videos that failed (or were never run)."""
        return sum(r.status in (FAILED, NOT_RUN) for r in self.records)

    @property
    def frames(self) -> int:
        """Frames tracked by the videos that were done (skipped ones count 0)."""
        return sum(r.frames for r in self.records if r.status == DONE)

    @property
    def frames_per_second(self) -> float:
        """Frames tracked per second of wall time over the whole run."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_seconds_per_frame(self) -> float:
        """The workers' CPU time per frame tracked, over the videos that were done: what a
        worker costs, whatever else the machine was running."""
        done = [r for r in self.records if r.status == DONE]
        frames = sum(r.frames for r in done)
        return sum(r.cpu_seconds for r in done) / frames if frames else 0.0

    def counts(self) -> dict[str, int]:
        """Videos per status."""
        counts = {DONE: 0, SKIPPED: 0, FAILED: 0, NOT_RUN: 0}
        for record in self.records:
            counts[record.status] += 1
        return counts

    def describe(self) -> str:
        """One line: videos by status, frames, wall time and frames per second."""
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items()
                           if n or status != NOT_RUN)
        workers = f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        return (f"{len(self.records)} videos on {workers}: {counts}; "
                f"{self.frames} frames in {self.seconds:.1f} s, "
                f"{self.frames_per_second:.2f} frames/s over the whole run; "
                f"{self.cpu_seconds_per_frame:.3f} worker CPU s per frame")

    def table(self) -> str:
        """The summary table: per video the status, worker, frames, seconds and tries, and
        what went wrong."""
        header = ("video", "status", "worker", "frames", "seconds", "tries", "note")
        rows = [(r.input.name, r.status, r.worker.short if r.worker else "-", str(r.frames),
                 f"{r.seconds:.1f}", str(r.attempts), r.message) for r in self.records]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
        right = {3, 4, 5}
        lines = []
        for row in [header, *rows]:
            cells = [cell.rjust(width) if i in right else cell.ljust(width)
                     for i, (cell, width) in enumerate(zip(row, widths))]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        return "\n".join(lines)
