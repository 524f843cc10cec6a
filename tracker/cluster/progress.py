"""The progress of a cluster run, on the driver: one tqdm bar of the frames tracked across
the cluster, its total estimated from the videos whose length is known, the progress board
the workers report to, and the workers' log records, relayed under their own loggers.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from tracker.cluster.config import WorkerInfo, WorkerProgress
from tracker.cluster.worker import progress_board_class

if TYPE_CHECKING:
    from tracker.cluster.scheduler import Video

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def cluster_bar(videos: int, draw: bool) -> Iterator[tqdm]:
    """The run's bar (frames, titled with the videos finished) for the block; drawn on
    stderr with ``draw``, the log records printed above it meanwhile."""
    bar = tqdm(desc=f"videos 0/{videos}", unit="frame", disable=not draw, dynamic_ncols=True)
    redirect = logging_redirect_tqdm() if draw else contextlib.nullcontext()
    with redirect, bar:
        yield bar


def relay_logs(logs: Sequence[tuple[str, int, str]]) -> None:
    """Log a worker's records on the driver, under their own loggers."""
    for name, level, message in logs:
        logging.getLogger(name).log(level, "%s", message)


class ClusterProgress:
    """The run's progress board (a Ray actor the workers report to by name) and the bar
    its reports move; it keeps each video's ``done`` and ``total`` frames.

    Args:
        ray: the ``ray`` module, connected.
        videos: the run's videos, by index.
        bar: the run's bar (:func:`cluster_bar`).
        every: seconds between two looks at the board.
        on_progress: called with each report of a worker.
    """

    def __init__(self, ray: Any, videos: Sequence[Video], bar: tqdm, every: float,
                 on_progress: Callable[[WorkerProgress], None] | None) -> None:
        self.ray, self.videos, self.bar = ray, videos, bar
        self.every, self.on_progress = every, on_progress
        self.drained_at = 0.0
        self.board_name = f"clicktrack-progress-{uuid.uuid4().hex}"
        self.board = ray.remote(progress_board_class()).options(
            name=self.board_name, num_cpus=0).remote()

    def drain(self, busy: int, workers: int) -> None:
        """Apply the workers' progress reports to the bar (and ``on_progress``), at most
        once every ``every`` seconds; ``busy`` of ``workers`` are tracking now."""
        now = time.monotonic()
        if now - self.drained_at < self.every:
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
            self.bar.set_postfix_str(f"{busy} of {workers} workers busy", refresh=False)
            self.bar.refresh()

    def drop(self, video: Video) -> None:
        """Take the frames of ``video``'s lost attempt off the bar."""
        self.bar.update(-video.done)
        video.done = 0

    def settle(self, video: Video, frames: int | None = None) -> None:
        """Fix the frames ``video`` counts for, its last attempt over: ``frames``, or
        (``None``, it failed) those it had tracked."""
        if frames is not None:
            self.bar.update(frames - video.done)
            video.done = frames
        video.total = video.done

    def finished(self) -> None:
        """A video finished: the bar's title and total follow."""
        finished = sum(v.finished for v in self.videos)
        self.bar.set_description(f"videos {finished}/{len(self.videos)}", refresh=False)
        self._estimate_total()

    def close(self) -> None:
        """End the progress board."""
        with contextlib.suppress(Exception):
            self.ray.kill(self.board)

    def _estimate_total(self) -> None:
        """The bar's total: the frames of every video whose size is known, and the mean of
        those for each video not started yet."""
        known = [v.total for v in self.videos if v.total is not None]
        if not known:
            return
        unknown = sum(v.total is None and not v.finished for v in self.videos)
        self.bar.total = sum(known) + round(unknown * sum(known) / len(known))
        self.bar.refresh()
