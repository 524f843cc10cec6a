"""Starting the studio as a real server process for the app tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_LIMIT_S = 600  # a generous bound on a busy machine; the start normally takes seconds
STOP_LIMIT_S = 300
WAIT_LIMIT_S = 900


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppProcess:
    """A studio server process.

    Attributes:
        url: where it serves.
        process: the ``python app.py`` process.
        log: its output (stdout and stderr).
        temp: its temporary folder (``TMPDIR``), where its sessions root lies.
    """

    url: str
    process: subprocess.Popen
    log: Path
    temp: Path

    def sessions_roots(self) -> list[Path]:
        """The studio session roots in the temporary folder (of this app and others)."""
        return sorted(self.temp.glob("clicktrack-sessions-*"))

    def log_text(self) -> str:
        return self.log.read_text()


@contextmanager
def app_process(workdir: Path, *extra: str, temp: Path | None = None,
                env: dict[str, str] | None = None) -> Iterator[AppProcess]:
    """Run ``python app.py`` on a free local port as on a fresh machine (``workdir`` stands
    in for the empty download folder, so the flow-and-colour tracker is the default) with its
    temporary folder ``temp`` (default ``workdir/tmp``) and the further environment ``env``
    (e.g. ``CLICKTRACK_REGISTRY``); stop it (SIGTERM) at the end unless it has already
    stopped."""
    port = free_port()
    temp = temp or Path(workdir) / "tmp"
    temp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1",
           "CLICKTRACK_CHECKPOINTS": str(workdir), "TMPDIR": str(temp), **(env or {})}
    log_path = Path(workdir) / f"app-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--sam", "grabcut", *extra],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        app = AppProcess(f"http://127.0.0.1:{port}/", process, log_path, temp)
        try:
            deadline = time.monotonic() + START_LIMIT_S
            while True:
                try:
                    urllib.request.urlopen(app.url, timeout=10)
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the app did not start: " + app.log_text()[-2000:])
                    time.sleep(0.5)
            yield app
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_LIMIT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextmanager
def running_app(workdir: Path, *extra: str) -> Iterator[str]:
    """:func:`app_process`, yielding only its URL."""
    with app_process(workdir, *extra) as app:
        yield app.url


def wait_until(condition: Callable[[], bool], what: str, limit: float = WAIT_LIMIT_S,
               poll: float = 0.5) -> None:
    """Wait until ``condition()`` holds; fail after ``limit`` seconds, a bound for a stuck
    app on a busy machine, not an expectation of how long the wait takes."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {limit:.0f} s waiting until {what}"
        time.sleep(poll)
