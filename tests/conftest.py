"""Shared fixtures: real clips, a synthetic-weight DeAOT checkpoint, small models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import save_checkpoint, synthetic_model

ROOT = Path(__file__).resolve().parents[1]
DEMO_CLIP = ROOT / "clicktrack_studio" / "example" / "bikes.mp4"
DEMO_PROMPTS = ROOT / "assets" / "prompts.json"


@pytest.fixture(scope="session")
def deaott_model():
    """DeAOT-T with the deterministic synthetic weights."""
    return synthetic_model("deaott")


@pytest.fixture(scope="session")
def bundled_model():
    """ClickTrack's bundled DeAOT-T, trained on synthetic clips (checkpoints/)."""
    import aot
    from tracker.registry import load_registry

    return aot.load_model(load_registry()["clicktrack_deaott"].path)


@pytest.fixture(scope="session")
def deaott_checkpoint(tmp_path_factory, deaott_model) -> Path:
    """That model as an official-format checkpoint file."""
    return save_checkpoint(deaott_model, tmp_path_factory.mktemp("weights") / "DeAOTT_test.pth")


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory) -> Path:
    """The first 12 frames of the demo clip at 320x136, as an H.264 MP4."""
    import cv2

    from tracker.video import open_video
    from tracker.video_writer import H264Writer

    path = tmp_path_factory.mktemp("clips") / "small.mp4"
    with open_video(DEMO_CLIP) as video, H264Writer(path, video.info.fps, (320, 136)) as writer:
        for _, frame in video.frames(0, 12):
            writer.write(cv2.resize(frame, (320, 136), interpolation=cv2.INTER_AREA))
    return path


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """The studio running as a real server on a free local port, with no downloaded weights."""
    from app_server import running_app

    with running_app(tmp_path_factory.mktemp("fresh-machine")) as url:
        yield url


def box_mask(shape: tuple[int, int], boxes: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    """(H, W) uint8 labels with each id filling its (x0, y0, x1, y1) box."""
    labels = np.zeros(shape, np.uint8)
    for object_id, (x0, y0, x1, y1) in boxes.items():
        labels[y0:y1, x0:x1] = object_id
    return labels
