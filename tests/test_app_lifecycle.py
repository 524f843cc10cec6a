"""The studio's work and folders end with their owner: a client that goes away mid-track,
SIGTERM, and the next start after a SIGKILL."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from app_server import STOP_LIMIT_S, AppProcess, app_process, wait_until
from conftest import DEMO_CLIP

# A client that loads the demo clip, clicks the cyclist, starts tracking, queues a second
# run and then hangs until it is killed, like a browser tab closed mid-track.
CLIENT = r"""
import sys, threading
from gradio_client import Client, handle_file

client = Client(sys.argv[1], verbose=False)
_, status, *_ = client.predict(handle_file(sys.argv[2]), api_name="/load_video")
assert status.startswith("Loaded"), status
_, status, *_ = client.predict(0, 450, 130, "positive", api_name="/click")
assert status.startswith("object 1 on frame 0"), status
running = client.submit(0, api_name="/track")
queued = client.submit(0, api_name="/track")
threading.Event().wait()
"""


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def _session_folders(app: AppProcess) -> list[Path]:
    """The session folders holding an upload, in every sessions root of the app's temp."""
    return sorted(p.parent for p in app.temp.glob("clicktrack-sessions-*/*/input.*"))


def _tracking_runs(log: str) -> list[str]:
    """The ends of the tracking runs in the app's log: 'tracked N frames ... [cancelled]'."""
    return re.findall(r"tracked \d+ frames.*", log)


def test_closed_client_stops_its_work(tmp_path):
    with app_process(tmp_path) as app:
        client = subprocess.Popen([sys.executable, "-c", CLIENT, app.url, str(DEMO_CLIP)])
        try:
            wait_until(lambda: _session_folders(app) or client.poll() is not None,
                       "the client has loaded its video")
            (folder,) = _session_folders(app)
            masks = folder / "work" / "masks"
            wait_until(lambda: len(list(masks.glob("*.png"))) >= 2 or client.poll() is not None,
                       "the client's run has tracked a frame")
            assert client.poll() is None, "the client failed"
        finally:
            client.kill()  # the client goes away mid-track: its connections close
            client.wait()
        # The run stops within a frame or two and the session's folder goes; before, the run
        # went on to the last frame for nobody and the folder stayed.
        wait_until(lambda: not folder.exists() or len(list(masks.glob("*.png"))) == 60,
                   "the session is closed or its run has finished")
        assert not folder.exists(), app.log_text()[-3000:]
        (run,) = _tracking_runs(app.log_text())
        assert run.endswith("cancelled")
        assert int(run.split()[1]) < 30  # of 60: it stopped long before the end

        # The queued run never starts: a click of another client passes through the same
        # queue after it, and there was still one run only.
        other = _client(app.url)
        other.predict(api_name="/load_example")
        _, status, *_ = other.predict(0, 450, 130, "positive", api_name="/click")
        assert status.startswith("object 1 on frame 0"), status
        assert len(_tracking_runs(app.log_text())) == 1


def test_sigterm_removes_session_folders(tmp_path, small_clip):
    from gradio_client import handle_file

    with app_process(tmp_path) as app:
        _, status, *_ = _client(app.url).predict(handle_file(str(small_clip)),
                                                 api_name="/load_video")
        assert status.startswith("Loaded small"), status
        (root,) = app.sessions_roots()
        assert _session_folders(app) and list(app.temp.rglob(small_clip.name))
        app.process.send_signal(signal.SIGTERM)
        assert app.process.wait(timeout=STOP_LIMIT_S) == 0, app.log_text()[-3000:]
    assert not root.exists()
    assert not list(app.temp.rglob(small_clip.name))  # nor Gradio's copy of the upload


def test_killed_studio_root_is_removed_at_next_start(tmp_path, small_clip):
    from gradio_client import handle_file

    temp = tmp_path / "tmp"
    with app_process(tmp_path, temp=temp) as killed:
        _client(killed.url).predict(handle_file(str(small_clip)), api_name="/load_video")
        (stale,) = killed.sessions_roots()
        killed.process.kill()
        killed.process.wait()
    assert (stale / ".owner.lock").exists() and _session_folders(killed)
    with app_process(tmp_path, temp=temp) as running:
        (root,) = running.sessions_roots()  # its own; the killed studio's root is gone
        assert root != stale and not stale.exists()
        assert "left by a studio that was killed" in running.log_text()
        with app_process(tmp_path, temp=temp) as second:  # a running studio's root stays
            assert root.exists() and len(second.sessions_roots()) == 2
