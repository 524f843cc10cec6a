"""Starting the studio as a real server process for the app tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(workdir: Path, *extra: str) -> Iterator[str]:
    """Run ``python app.py`` on a free local port as on a fresh machine (``workdir`` stands
    in for the empty download folder, so the bundled DeAOT is the default); yield its URL."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1",
           "CLICKTRACK_CHECKPOINTS": str(workdir)}
    log = open(Path(workdir) / f"app-{port}.log", "w")
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--sam", "grabcut", *extra], cwd=ROOT,
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    raise RuntimeError("the app did not start: "
                                       + Path(log.name).read_text()[-2000:])
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
