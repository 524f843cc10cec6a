"""The studio driven in a real browser: headless Chromium through Playwright."""

from __future__ import annotations

import io
import os
import shutil
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import DEMO_CLIP

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


# What the page shows of the app's progress: the status line and the tracking progress
# ("frame k/N, ... fps, ETA ..."); not Gradio's timers, which run on when the app stalls.
PROGRESS_JS = """() => [document.querySelector('#status').innerText,
    (document.body.innerText.match(/frame \\d+\\/\\d+, [\\d.]+ fps, ETA (\\d+ s|\\?)/g)
     || []).join(' ')]"""
WAIT_LIMIT_S = 900  # the longest any step may take on a busy machine
STALL_LIMIT_S = 300  # the longest the page may show no progress at all


def _wait_for_text(page, text: str, where: int = 0) -> None:
    """Wait until the status (``where=0``) or the progress text (``where=1``) shows ``text``,
    for as long as the app keeps making progress: fail only when the page showed no change
    for ``STALL_LIMIT_S`` or the wait exceeded ``WAIT_LIMIT_S``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + WAIT_LIMIT_S
    seen = page.evaluate(PROGRESS_JS)
    while text not in seen[where]:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{text!r} not shown after {WAIT_LIMIT_S} s; page shows {seen}"
        try:  # until the text shows or anything changes
            changed = page.wait_for_function(
                f"([text, where, before]) => {{ const now = ({PROGRESS_JS})();"
                " return (now[where].includes(text) || now.some((part, i) => part !== before[i]))"
                " && now }", arg=[text, where, seen],
                timeout=min(STALL_LIMIT_S, remaining) * 1000)
        except PlaywrightTimeout:
            pytest.fail(f"no progress for {STALL_LIMIT_S} s waiting for {text!r}; "
                        f"page shows {seen}")
        seen = changed.json_value()


def _wait_status(page, text: str) -> None:
    _wait_for_text(page, text, where=0)


def _frame_pixels(page) -> np.ndarray:
    source = page.get_attribute("#frame-view img", "src")
    return np.asarray(Image.open(io.BytesIO(page.request.get(source).body())).convert("RGB"))


def _click_frame(page, x: float, y: float, width: int, height: int) -> None:
    """Click frame pixel (x, y) of a ``width`` x ``height`` frame once the frame image has
    loaded: a click on an image still loading is lost, and the status would never change."""
    page.wait_for_function(
        "() => { const img = document.querySelector('#frame-view img');"
        " return img !== null && img.complete && img.naturalWidth > 0 }",
        timeout=WAIT_LIMIT_S * 1000)
    image = page.locator("#frame-view img")
    box = image.bounding_box()
    image.click(position={"x": box["width"] * x / width, "y": box["height"] * y / height})


def _go_to_frame(page, index: int) -> None:
    field = page.locator("#frame-slider input[type=number]")
    field.fill(str(index))
    field.press("Enter")
    _wait_status(page, f"Frame {index}.")


def test_studio_flow(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.goto(app_url)

    # 1. upload the demo clip: the first frame appears
    page.set_input_files("#upload input[type=file]", str(DEMO_CLIP))
    _wait_status(page, "Loaded bikes: 60 frames, 640x272")
    before = _frame_pixels(page)

    # 2. click the cyclist: its mask appears at once
    _click_frame(page, 450, 130, 640, 272)
    _wait_status(page, "object 1 on frame 0")
    after = _frame_pixels(page)
    assert np.abs(after[120:140, 440:460].astype(int) - before[120:140, 440:460]).mean() > 20
    assert np.abs(after[200:260, 20:80].astype(int) - before[200:260, 20:80]).mean() < 3
    assert "from frame 0" in page.inner_text("#object-list")

    # 3. track, with frames per second and an ETA on the way
    page.click("#track")
    _wait_for_text(page, "fps, ETA", where=1)
    _wait_status(page, "Tracking done: 60 frames")

    if os.environ.get("CLICKTRACK_SCREENSHOT"):  # refreshes assets/screenshot.png
        page.wait_for_timeout(3000)  # let the page settle (no pending overlays)
        page.screenshot(path=os.environ["CLICKTRACK_SCREENSHOT"], full_page=True)

    # results can be scrubbed: a later frame shows its tracked mask
    _go_to_frame(page, 45)
    assert np.abs(_frame_pixels(page).astype(int) - after).mean() > 5

    # 4. the result video plays in the page, 60 frames at 25 fps
    page.wait_for_function("() => { const v = document.querySelector('#result video');"
                           " return v && v.readyState >= 1 }", timeout=WAIT_LIMIT_S * 1000)
    duration = page.evaluate("document.querySelector('#result video').duration")
    assert duration == pytest.approx(60 / 25, abs=0.05)
    page.evaluate("document.querySelector('#result video').muted = true;"
                  "document.querySelector('#result video').play()")
    page.wait_for_function("document.querySelector('#result video').currentTime > 0.3",
                           timeout=WAIT_LIMIT_S * 1000)

    # 5. on a middle frame, add the motorbike as a new object and re-track from there
    _go_to_frame(page, 30)
    page.click("#new-object")
    _wait_status(page, "Object 2: click on it.")
    page.check("#click-mode input[value='Box (2 clicks)']")
    _click_frame(page, 530, 155, 640, 272)
    _wait_status(page, "click the opposite corner")
    _click_frame(page, 635, 268, 640, 272)
    _wait_status(page, "object 2 on frame 30")
    page.click("#track")
    _wait_status(page, "Tracking done: 60 frames")

    # 6. download the masks zip and check it
    page.click("#export")
    _wait_status(page, "Exports ready: overlay, annotations, objects, masks.")
    link = page.locator("#downloads a[download='masks.zip']")
    with page.expect_download() as download_info:
        link.click()
    path = tmp_path / "masks.zip"
    download_info.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        assert names == [f"masks/{i:05d}.png" for i in range(60)]
        frame_30 = np.asarray(Image.open(io.BytesIO(archive.read("masks/00030.png"))))
        frame_0 = np.asarray(Image.open(io.BytesIO(archive.read("masks/00000.png"))))
    assert frame_30.shape == (272, 640)
    assert (frame_30 == 2).sum() > 1000 and set(np.unique(frame_30)) <= {0, 1, 2}
    assert (frame_0 == 1).sum() > 1000
    page.close()


def test_closing_the_tab_stops_tracking(browser, tmp_path):
    from app_server import app_process, wait_until

    with app_process(tmp_path) as app:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app.url)
        page.set_input_files("#upload input[type=file]", str(DEMO_CLIP))
        _wait_status(page, "Loaded bikes")
        _click_frame(page, 450, 130, 640, 272)
        _wait_status(page, "object 1 on frame 0")
        (folder,) = [p.parent for p in app.temp.glob("clicktrack-sessions-*/*/input.mp4")]
        page.click("#track")
        _wait_for_text(page, "fps, ETA", where=1)
        page.close()  # the user gives up mid-track
        wait_until(lambda: not folder.exists() or "tracked 60 frames" in app.log_text(),
                   "the session is closed or its run has finished")
        assert not folder.exists()
        assert "cancelled" in app.log_text() and "tracked 60 frames" not in app.log_text()


def test_downloading_a_model_makes_it_selectable(browser, tmp_path, deaott_checkpoint):
    """The Settings list a model that is not downloaded; Download fetches it from the local
    server the registry points at (``$CLICKTRACK_REGISTRY``) and the DeAOT menu offers it."""
    from app_server import app_process
    from weights_server import deaot_entry, weights_server, write_registry

    name = "DeAOTT_PRE_YTB_DAV.pth"
    with weights_server({name: deaott_checkpoint.read_bytes()}) as server:
        registry = write_registry(tmp_path / "registry.json",
                                  {"deaott": deaot_entry(server.url)})
        with app_process(tmp_path, env={"CLICKTRACK_REGISTRY": str(registry)}) as app:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(app.url)
            page.get_by_text("Settings", exact=True).click()
            assert "deaott (DeAOT" in page.input_value("#missing-models input")
            page.click("#download-model")
            _wait_status(page, "Downloaded deaott: choose it in the DeAOT model menu.")
            assert server.bodies == [(name, None)] and (tmp_path / name).is_file()
            page.click("#deaot-model input")
            page.get_by_role("option", name="deaott", exact=True).click()
            _wait_status(page, "Settings applied.")
            assert page.input_value("#deaot-model input") == "deaott"
            page.close()


def test_find_objects_by_text(browser, tmp_path):
    """Typing in "Find objects" adds what the text names (a toy Grounding DINO with random
    weights, listed in the registry) to the object list, to keep, remove or correct."""
    pytest.importorskip("transformers")
    from app_server import app_process
    from text_models import save_toy_detector, write_detector_registry

    folder = save_toy_detector(tmp_path / "grounding-dino-tiny")
    registry = write_detector_registry(tmp_path / "registry.json", folder)
    with app_process(tmp_path, env={"CLICKTRACK_REGISTRY": str(registry)}) as app:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app.url)
        page.set_input_files("#upload input[type=file]", str(DEMO_CLIP))
        _wait_status(page, "Loaded bikes")
        page.fill("#find-text textarea", "person . bicycle")
        page.click("#find")
        _wait_status(page, "found objects [1")
        listing = page.inner_text("#object-list")
        assert "from frame 0 (text, grabcut)" in listing
        page.close()
