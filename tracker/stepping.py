"""Tracking several videos in lock step, with their DeAOT steps batched together.

Tracking code is written as generators of DeAOT steps: a generator yields a step request,
``(propagator, frame)``, receives that step's :class:`aot.StepOutput`, and returns its result
when done. :func:`run_alone` answers the requests one by one. :func:`run_together` keeps
several generators going and answers one request from each with a single
:func:`aot.step_together` call, so the network runs once for all of them (the batch
command's ``--batch-videos``; a throughput gain on a GPU).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TypeVar

import numpy as np

from aot import Propagator, StepOutput, step_together
from tracker.flow_color_propagator import FlowColorPropagator

logger = logging.getLogger(__name__)

T = TypeVar("T")
StepRequest = tuple[Propagator | FlowColorPropagator, np.ndarray]
Steps = Generator[StepRequest, StepOutput, T]

#: Errors that end one job and not the others: whatever goes wrong with one input (a bad
#: video, a decompression bomb, a full disk, a bug it triggers) fails that input alone.
#: Ctrl-C and SIGTERM (KeyboardInterrupt) and SystemExit still end the whole run.
JOB_ERRORS = (Exception,)
#: Error types whose messages speak for themselves; others are named in the message.
_EXPECTED_ERRORS = (ValueError, OSError)


def describe_job_error(error: Exception) -> str:
    """The message a failed job is reported with: the error's text, preceded by its type
    where that is not an expected input error (a traceback goes to the debug log)."""
    if isinstance(error, _EXPECTED_ERRORS) and str(error):
        return str(error)
    logger.debug("unexpected error", exc_info=error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def run_alone(steps: Steps[T]) -> T:
    """Run a generator of steps to its end, one step at a time; return its result."""
    try:
        propagator, frame = next(steps)
        while True:
            propagator, frame = steps.send(propagator.step(frame))
    except StopIteration as stop:
        return stop.value


def run_together(jobs: Iterable[Steps[T]], width: int
                 ) -> Iterator[tuple[int, T | Exception]]:
    """Run up to ``width`` jobs at a time, batching their steps; yield each job's outcome.

    Args:
        jobs: generators of steps; taken lazily, one as another finishes.
        width: how many jobs step together.

    Yields:
        (index of the job in ``jobs``, its result or the error in :data:`JOB_ERRORS` that
        ended it), in the order the jobs finish.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    queue = enumerate(jobs)
    active: dict[int, tuple[Steps[T], StepRequest]] = {}
    try:
        yield from _run_active(queue, active, width)
    finally:  # interrupted: each unfinished job cleans up (its with blocks exit) now
        for job, _ in active.values():
            job.close()


def _run_active(queue: Iterator[tuple[int, Steps[T]]],
                active: dict[int, tuple[Steps[T], StepRequest]], width: int
                ) -> Iterator[tuple[int, T | Exception]]:
    """The loop of :func:`run_together`, with the running jobs in ``active``."""
    while True:
        while len(active) < width:
            entry = next(queue, None)
            if entry is None:
                break
            index, job = entry
            request, outcome = _advance(lambda: next(job))
            if request is not None:
                active[index] = (job, request)
            else:
                yield index, outcome
        if not active:
            return
        indices = list(active)
        outputs = _step_all([active[i][1] for i in indices])
        for index, output in zip(indices, outputs):
            job = active.pop(index)[0]
            if isinstance(output, Exception):
                request, outcome = _advance(lambda: job.throw(output))
            else:
                request, outcome = _advance(lambda: job.send(output))
            if request is not None:
                active[index] = (job, request)
            else:
                yield index, outcome


def _advance(call: Callable[[], StepRequest]) -> tuple[StepRequest | None, object]:
    """Resume a job: (its next request, None), or (None, its result or error)."""
    try:
        return call(), None
    except StopIteration as stop:
        return None, stop.value
    except JOB_ERRORS as error:
        return None, error


def _step_all(requests: list[StepRequest]) -> list[StepOutput | Exception]:
    """One :func:`aot.step_together` call per DeAOT model and precision; a request whose
    batch fails is stepped alone, so that an error reaches only the job that caused it.
    Other engines (no network to share) step alone."""
    batches: dict[tuple, list[int]] = {}
    for i, (propagator, _) in enumerate(requests):
        key = (id(propagator.model), propagator.policy) \
            if isinstance(propagator, Propagator) else ("alone", i)
        batches.setdefault(key, []).append(i)
    outputs: list[StepOutput | Exception | None] = [None] * len(requests)
    for members in batches.values():
        try:
            results = _step_batch([requests[i] for i in members])
        except JOB_ERRORS as error:
            if len(members) == 1:
                outputs[members[0]] = error
                continue
            logger.debug("batched step failed (%s); stepping alone", error)
            results = []
            for i in members:
                try:
                    results.append(requests[i][0].step(requests[i][1]))
                except JOB_ERRORS as single_error:
                    results.append(single_error)
        for i, result in zip(members, results):
            outputs[i] = result
    return outputs  # type: ignore[return-value]


def _step_batch(requests: list[StepRequest]) -> list[StepOutput]:
    """Step requests of one batch: DeAOT's together, another engine's (alone) directly."""
    if isinstance(requests[0][0], Propagator):
        return step_together([p for p, _ in requests], [frame for _, frame in requests])
    return [propagator.step(frame) for propagator, frame in requests]
