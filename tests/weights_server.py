"""A local weights server on 127.0.0.1 for the download tests, and registries pointing at it.

Nothing here reaches the internet: the registry the tests give ClickTrack
(``$CLICKTRACK_REGISTRY``) lists files this server holds.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class WeightsServer:
    """What the server holds and what it was asked.

    Attributes:
        files: name -> bytes served at ``url + name``.
        url: its address, ending in ``/``.
        connections: connections accepted.
        bodies: (name, Range header) of every response that sent a body.
        cut_after: the next body stops after this many bytes (a transfer cut midway).
        delay_s: pause before each body (so that downloads asked for at once overlap).
    """

    files: dict[str, bytes]
    url: str = ""
    connections: int = 0
    bodies: list[tuple[str, str | None]] = field(default_factory=list)
    cut_after: int | None = None
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: WeightsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            data = state.files.get(self.path.lstrip("/"))
            if data is None:
                self.send_error(404)
                return
            asked = self.headers.get("Range")
            start = int(asked.removeprefix("bytes=").rstrip("-")) if asked else 0
            if start:
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with state.lock:
                state.bodies.append((self.path.lstrip("/"), asked))
                cut, state.cut_after = state.cut_after, None
            time.sleep(state.delay_s)
            self.wfile.write(body if cut is None else body[:cut])

        def log_message(self, *args):
            pass

    return Handler


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: WeightsServer) -> None:
        super().__init__(("127.0.0.1", 0), _handler(state))
        self.state = state

    def process_request(self, request, client_address):
        with self.state.lock:
            self.state.connections += 1
        super().process_request(request, client_address)


@contextmanager
def weights_server(files: dict[str, bytes]) -> Iterator[WeightsServer]:
    """Serve ``files`` on a free local port until the block ends."""
    state = WeightsServer(dict(files))
    server = _CountingServer(state)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """An address on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def deaot_entry(base_url: str, variant: str = "deaott", **fields) -> dict:
    """A registry entry of an official-format DeAOT checkpoint at ``base_url``, checked key
    by key (no published hash) unless ``fields`` give a ``sha256``."""
    file = f"{variant.upper().replace('DEAOT', 'DeAOT')}_PRE_YTB_DAV.pth"
    return {"kind": "deaot", "variant": variant, "file": file, "url": base_url + file,
            "size": None, "sha256": None, **fields}


def write_registry(path: Path, entries: dict[str, dict]) -> Path:
    """A registry file (``$CLICKTRACK_REGISTRY``) of ``entries``."""
    path.write_text(json.dumps(entries, indent=1))
    return path
