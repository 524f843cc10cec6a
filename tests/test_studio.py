"""Studio sessions without a browser: folders, uploads, two-click boxes, closing."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import DEMO_CLIP
from tracker.models import ModelCache
from tracker.studio import Settings, StudioError, StudioSession


@pytest.fixture()
def session(tmp_path, deaott_checkpoint):
    studio = StudioSession(tmp_path, ModelCache(),
                           Settings(sam="grabcut", deaot=str(deaott_checkpoint)))
    yield studio
    studio.close()


def test_upload_is_stored_under_our_name(session, small_clip, tmp_path):
    hostile = tmp_path / "..;rm -rf ~;.mp4"
    hostile.write_bytes(small_clip.read_bytes())
    session.load(hostile, hostile.name)
    assert sorted(p.name for p in session.folder.iterdir()) == ["input.mp4", "work"]
    assert session.num_frames == 12
    with pytest.raises(StudioError, match="cannot be loaded"):
        session.load(DEMO_CLIP.with_suffix(".exe"))


def test_box_from_two_clicks_and_objects(session, small_clip):
    session.load(small_clip)
    assert "opposite corner" in session.click(0, 262, 75, "box")
    assert session.click(0, 319, 135, "box").startswith("object 1 on frame 0")
    second = session.new_object()
    session.click(0, 225, 65, "positive")
    rows = session.objects()
    assert [r[0] for r in rows] == [1, second] and rows[0][1].startswith("#")
    image = session.render(0)
    assert image.shape == (136, 320, 3)
    with pytest.raises(StudioError, match="outside"):
        session.click(0, 400, 10, "positive")


def test_track_export_and_close(session, small_clip):
    session.load(small_clip)
    session.click(0, 225, 65, "positive")
    with pytest.raises(StudioError, match="track first"):
        session.export()
    progress = []
    report = session.track(progress.append)
    assert report.frames == 12 and progress[-1].done == 12
    assert "fps, ETA" in progress[0].describe()
    paths = session.export()
    assert {p.name for p in paths.values()} == {"overlay.mp4", "masks.zip", "annotations.json",
                                                 "objects.json"}
    folder = session.folder
    session.close()
    assert not folder.exists()


def test_requests_before_a_video(session):
    with pytest.raises(StudioError, match="load a video first"):
        session.click(0, 1, 1, "positive")
    assert session.objects() == [] and session.num_frames == 0
    assert np.isinf(__import__("tracker.studio", fromlist=["Progress"]).Progress(0, 5, 0).eta_seconds)
