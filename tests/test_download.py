"""The download client against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tracker.download import DownloadError, download
from tracker.registry import WeightFile, load_registry

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit


class _Handler(BaseHTTPRequestHandler):
    honour_ranges = True
    requests: list[str | None] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        _Handler.requests.append(self.headers.get("Range"))
        start = 0
        if self.headers.get("Range") and _Handler.honour_ranges:
            start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.requests = []
    _Handler.honour_ranges = True
    yield f"http://127.0.0.1:{httpd.server_address[1]}/weights.pth"
    httpd.shutdown()


def _entry(url: str, **changes) -> WeightFile:
    entry = WeightFile(name="test_weights", kind="sam", arch="vit_b", file="weights.pth",
                       url=url, size=len(PAYLOAD), sha256=hashlib.sha256(PAYLOAD).hexdigest())
    return replace(entry, **changes)


def test_download_and_verify(server, tmp_path):
    path = download(_entry(server), tmp_path, show_progress=False)
    assert path.read_bytes() == PAYLOAD
    assert _Handler.requests == [None]
    assert download(_entry(server), tmp_path, show_progress=False) == path  # kept
    assert len(_Handler.requests) == 1


def test_resumes_a_broken_transfer(server, tmp_path):
    (tmp_path / "weights.pth.part").write_bytes(PAYLOAD[:300_000])
    path = download(_entry(server), tmp_path, show_progress=False)
    assert _Handler.requests == ["bytes=300000-"]
    assert path.read_bytes() == PAYLOAD and not (tmp_path / "weights.pth.part").exists()


def test_restarts_when_the_server_ignores_ranges(server, tmp_path):
    _Handler.honour_ranges = False
    (tmp_path / "weights.pth.part").write_bytes(b"stale bytes")
    assert download(_entry(server), tmp_path, show_progress=False).read_bytes() == PAYLOAD


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="does not match"):
        download(_entry(server, sha256="0" * 64), tmp_path, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_wrong_size_and_unreachable_server(server, tmp_path):
    with pytest.raises(DownloadError, match="got 1048580 bytes, expected 5"):
        download(_entry(server, size=5), tmp_path, show_progress=False)
    with pytest.raises(DownloadError, match="weights.pth"):
        download(_entry("http://127.0.0.1:9/weights.pth"), tmp_path, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_registry_covers_every_model():
    registry = load_registry()
    assert {"sam_vit_b", "sam_vit_l", "sam_vit_h", "deaott", "deaots", "deaotb", "deaotl",
            "r50_deaotl", "swinb_deaotl"} <= set(registry)
    for entry in registry.values():
        if entry.bundled:
            assert entry.present and entry.path.parent.parent.name == "tracker"
            continue
        assert entry.url.startswith("https://")
        if entry.kind == "sam":
            assert entry.size and len(entry.sha256) == 64
        elif entry.kind == "detector":  # a folder of files, at a pinned revision
            assert entry.url.startswith("https://huggingface.co/IDEA-Research/grounding-dino-")
            assert "model.safetensors" in {part.name for part in entry.files}
        else:
            assert entry.gdrive_id in entry.url


def test_models_command_lists_presence(tmp_path):
    (tmp_path / "sam_vit_b_01ec64.pth").write_bytes(b"x")
    result = subprocess.run([sys.executable, "-m", "tracker", "models"], capture_output=True,
                            text=True, env={"CLICKTRACK_CHECKPOINTS": str(tmp_path),
                                            "PATH": "/usr/bin:/bin"}, check=True)
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "present" in lines["sam_vit_b"]
    assert "python -m tracker download r50_deaotl" in lines["r50_deaotl"]
