"""The studio's API through gradio_client, and sessions that stay apart."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from app_server import app_process
from conftest import DEMO_CLIP, ROOT
from tracker.formats import read_annotations


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=True)


def _masks(zip_path: str) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(zip_path) as archive:
        return {name: np.asarray(Image.open(io.BytesIO(archive.read(name))))
                for name in sorted(archive.namelist())}


def _run_flow(url: str, video: Path, clicks: list[tuple[int, float, float, str]]) -> dict:
    """Upload, prompt, track and export with one client; returns the downloads."""
    from gradio_client import handle_file

    client = _client(url)
    _, status, *_ = client.predict(handle_file(str(video)), api_name="/load_video")
    assert status.startswith("Loaded"), status
    for frame, x, y, mode in clicks:
        _, status, *_ = client.predict(frame, x, y, mode, api_name="/click")
        assert "⚠️" not in status, status
    _, status, overlay = client.predict(clicks[0][0], api_name="/track")
    assert status.startswith("Tracking done"), status
    assert "carried by optical flow and colour" in status  # no weights downloaded
    files, status = client.predict(api_name="/export")
    return {Path(f).name: f for f in files} | {"overlay_result": overlay, "client": client}


def test_client_flow(app_url):
    downloads = _run_flow(app_url, DEMO_CLIP, [(0, 450, 130, "positive"),
                                                 (0, 150, 95, "positive")])
    with av.open(downloads["overlay.mp4"]) as container:
        assert container.streams.video[0].frames == 60
    masks = _masks(downloads["masks.zip"])
    assert len(masks) == 60 and masks["masks/00000.png"].shape == (272, 640)
    assert set(np.unique(masks["masks/00000.png"])) == {0, 1}  # both clicks on object 1
    coco = json.loads(Path(downloads["annotations.json"]).read_text())
    assert len(coco["images"]) == 60
    client = downloads["client"]
    _, status, *_ = client.predict(0, 700, 10, "positive", api_name="/click")
    assert "lies outside the 640x272 frame" in status

    files, status = client.predict(["cvat", "mot"], api_name="/export")  # formats chosen
    assert sorted(Path(f).name for f in files) == ["cvat.xml", "mot.txt"], status
    cvat = read_annotations(next(f for f in files if f.endswith(".xml")))
    assert (cvat.format, cvat.num_frames, cvat.object_ids()) == ("cvat", 60, [1])
    from gradio_client import handle_file

    keyframes = ROOT / "tests" / "data" / "formats" / "cvat" / "bikes_keyframes.xml"
    _, status, *_ = client.predict(0, handle_file(str(keyframes)),
                                   api_name="/import_annotations")
    assert "is for 160x68 frames" in status  # that file annotates a smaller copy of the clip

    job = client.submit(0, api_name="/track")  # cancel a run half way
    while not (job.status().progress_data or job.done()):
        pass
    assert client.predict(api_name="/stop").startswith("Stopping")
    _, status, _ = job.result(timeout=300)
    assert status.startswith("Tracking stopped"), status


def test_two_sessions_do_not_mix(app_url, small_clip):
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def run(name, video, clicks):
        try:
            results[name] = _run_flow(app_url, video, clicks)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=("demo", DEMO_CLIP, [(0, 450, 130, "positive")])),
               threading.Thread(target=run, args=("small", small_clip,
                                                  [(0, 75, 48, "positive"),
                                                   (0, 10, 10, "box"), (0, 150, 130, "box")]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    demo, small = _masks(results["demo"]["masks.zip"]), _masks(results["small"]["masks.zip"])
    assert len(demo) == 60 and len(small) == 12
    assert demo["masks/00000.png"].shape == (272, 640)
    assert small["masks/00000.png"].shape == (136, 320)
    assert results["demo"]["masks.zip"] != results["small"]["masks.zip"]
    with av.open(results["small"]["overlay.mp4"]) as container:
        stream = container.streams.video[0]
        assert (stream.frames, stream.width, stream.height) == (12, 320, 136)


def test_uploads_are_checked(app_url, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    script = tmp_path / "run me.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    client = _client(app_url)
    with pytest.raises(AppError, match="Invalid file type"):
        client.predict(handle_file(str(script)), api_name="/load_video")
    hostile = tmp_path / "$(touch pwned);..evil.mp4"
    hostile.write_bytes(b"not a video")
    _, status, *_ = client.predict(handle_file(str(hostile)), api_name="/load_video")
    assert "input.mp4: not a readable video" in status  # stored under our own name
    assert not (Path.cwd() / "pwned").exists()


def test_upload_size_limit(tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from app_server import running_app

    big = tmp_path / "big.mp4"
    big.write_bytes(bytes(2 * 2 ** 20))
    with running_app(tmp_path, "--max-upload-mb", "1") as url:
        with pytest.raises((AppError, ValueError), match="exceeds the maximum file size"):
            _client(url).predict(handle_file(str(big)), api_name="/load_video")
        import httpx

        response = httpx.post(url + "gradio_api/upload",
                              files={"files": ("big.mp4", big.read_bytes())})
        assert response.status_code == 413  # the server enforces it too


def _png_bomb_zip(path: Path) -> Path:
    """A zip of two 8000x8000 PNGs of a few kilobytes that decode to 192 MB each."""
    png = io.BytesIO()
    Image.new("L", (8000, 8000)).save(png, "PNG", optimize=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("00000.png", png.getvalue())
        archive.writestr("00001.png", png.getvalue())
    return path


def _peak_rss(pid: int) -> int:
    """The largest resident memory of a process so far, bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024


def test_decoded_size_limits(tmp_path, small_clip):
    from gradio_client import handle_file

    bomb = _png_bomb_zip(tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 4096
    with app_process(tmp_path, "--max-frames", "10") as app:
        client = _client(app.url)
        before = _peak_rss(app.process.pid)
        _, status, *_ = client.predict(handle_file(str(bomb)), api_name="/load_video")
        assert status.startswith("⚠️") and "8000x8000" in status, status
        assert "(--max-frame-pixels raises it)" in status
        assert _peak_rss(app.process.pid) - before < 100 * 2 ** 20  # no frame was decoded
        _, status, *_ = client.predict(handle_file(str(small_clip)), api_name="/load_video")
        assert "12 frames, more than the limit of 10 (--max-frames raises it)" in status
