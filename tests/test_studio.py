"""Studio sessions without a browser: folders, uploads, two-click boxes, closing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import DEMO_CLIP

from tracker.models import ModelCache
from tracker.session_registry import SessionRegistry
from tracker.studio_session import Progress, Settings, StudioError, StudioSession
from tracker.tracking_options import TrackingOptions
from tracker.video import VideoError, VideoLimits


@pytest.fixture()
def session(tmp_path, deaott_checkpoint):
    tracking = TrackingOptions(deaot=str(deaott_checkpoint))
    studio = StudioSession(tmp_path, ModelCache(), Settings(sam="grabcut", tracking=tracking))
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


def test_click_marks_come_from_the_trackers_prompts_and_undo_takes_them_back(session,
                                                                              small_clip):
    """One prompt state: the marks drawn are the tracker's clicks for the object, so undo
    removes the last click's mark along with its mask."""
    session.load(small_clip)
    session.click(0, 225, 65, "positive")
    session.click(0, 40, 120, "negative")
    green, red = (40, 220, 40), (230, 40, 40)
    image = session.render(0)
    assert tuple(image[65, 225]) == green and tuple(image[120, 40]) == red
    assert session.undo()
    image = session.render(0)
    assert tuple(image[65, 225]) == green and tuple(image[120, 40]) != red
    assert session.tracker.prompt_of(0, 1).points == ((225, 65),)


def test_bad_click_mode_uses_no_object_id(session, small_clip):
    session.load(small_clip)
    with pytest.raises(StudioError, match="unknown click mode 'lasso'"):
        session.click(0, 225, 65, "lasso")
    assert session.current_object is None and session.objects() == []
    assert session.new_object() == 1


def test_upload_limits_are_the_sessions(tmp_path, small_clip):
    studio = StudioSession(tmp_path, ModelCache(), Settings(sam="grabcut"),
                           VideoLimits(max_frames=10))
    with pytest.raises(VideoError, match=r"12 frames, more than the limit of 10 \(--max-frames"):
        studio.load(small_clip)
    assert studio.tracker is None
    studio.close()


def test_track_export_and_close(session, small_clip, tmp_path):
    named = tmp_path / "my ride.mp4"
    shutil.copyfile(small_clip, named)
    session.load(named, named.name)
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
    # the exports name the user's video, not the session's copy (input.mp4)
    assert json.loads(paths["objects"].read_text())["video"] == "my ride"
    coco = json.loads(paths["annotations"].read_text())
    assert coco["info"]["description"] == "ClickTrack results for my ride"
    folder = session.folder
    session.close()
    assert not folder.exists()


def test_requests_before_a_video(session):
    with pytest.raises(StudioError, match="load a video first"):
        session.click(0, 1, 1, "positive")
    assert session.objects() == [] and session.num_frames == 0
    assert np.isinf(Progress(0, 5, 0).eta_seconds)


def test_registry_gives_each_client_its_session_and_ends_it(tmp_path, small_clip):
    registry = SessionRegistry(lambda: StudioSession(tmp_path, ModelCache(),
                                                     Settings(sam="grabcut")))
    first = registry.session_for("tab-1", None)
    assert registry.session_for("tab-1", None) is first  # two first events, one session
    assert registry.session_for("tab-1", first) is first
    second = registry.session_for("tab-2", None)
    assert second is not first
    first.load(small_clip)
    registry.end("tab-1")  # its client went away
    assert first.closed and not first.folder.exists() and not second.closed
    with pytest.raises(StudioError, match="has ended"):
        first.load(small_clip)
    with pytest.raises(StudioError, match="has ended"):  # what it left queued does nothing
        registry.session_for("tab-1", first)
    registry.discard(first)  # its state expired: a new session for the same id
    assert not registry.session_for("tab-1", None).closed
    registry.discard(second)
    assert second.closed and registry.session_for("tab-2", second) is not second
    registry.close_all()
    assert registry.session_for("tab-2", None).folder.exists()


def test_more_objects_than_the_bundled_model_knows_are_tracked_in_groups(tmp_path, small_clip):
    studio = StudioSession(tmp_path, ModelCache(), Settings(
        sam="grabcut", tracking=TrackingOptions(deaot="clicktrack_deaott", flip="off",
                                                scales="1.0", edges="off")))
    try:
        studio.load(small_clip)
        for x, y in ((75, 48), (225, 65), (300, 90), (140, 20)):
            studio.new_object()
            studio.click(0, x, y, "positive")
        studio.track()
        assert "4 objects in 2 passes of at most 3 per frame" in studio.model_note
        assert studio.tracker.plan.propagator.group_size == 3
    finally:
        studio.close()


def test_keyframes_from_cvat_start_a_session_that_exports_in_the_formats_asked(tmp_path):
    """The studio's "Start from annotations": a CVAT export of two keyframes on the demo clip
    (as tests/test_formats.py uses it: its first 6 frames at 160x68) prompts the session,
    tracking follows both objects, and Export writes the formats chosen, folders zipped."""
    import zipfile

    import cv2

    from conftest import ROOT
    from tracker.formats import read_annotations
    from tracker.video import open_video

    clip = tmp_path / "bikes.zip"
    with open_video(DEMO_CLIP) as video, zipfile.ZipFile(clip, "w") as archive:
        for index, frame in video.frames(0, 6):
            small = cv2.resize(frame, (160, 68), interpolation=cv2.INTER_AREA)
            archive.writestr(f"{index:05d}.png",
                             cv2.imencode(".png", cv2.cvtColor(small, cv2.COLOR_RGB2BGR))[1])
    studio = StudioSession(tmp_path / "root", ModelCache(), Settings(sam="geodesic_grabcut"))
    try:
        studio.load(clip, "bikes.zip")
        keyframes = ROOT / "tests" / "data" / "formats" / "cvat" / "bikes_keyframes.xml"
        assert "objects [1, 2] on 2 keyframes" in studio.import_annotations(keyframes)
        with pytest.raises(StudioError, match="track first"):
            studio.export(["cvat"])
        with pytest.raises(StudioError, match="cannot read"):
            studio.import_annotations(DEMO_CLIP)
        studio.track()
        paths = studio.export(["overlay", "masks", "cvat", "davis", "mot"])
        assert {name: path.name for name, path in paths.items()} == {
            "overlay": "overlay.mp4", "masks": "masks.zip", "cvat": "cvat.xml",
            "davis": "davis.zip", "mot": "mot.txt"}
        written = read_annotations(paths["cvat"])
        assert written.categories == {1: "car", 2: "cyclist"}
        assert {i: sorted(written.boxes(i)) for i in range(6)} == {i: [1, 2] for i in range(6)}
        with zipfile.ZipFile(paths["davis"]) as archive:
            pngs = [n for n in archive.namelist() if n.endswith(".png")]
        assert len(pngs) == 6 and all(n.startswith("davis/") for n in pngs)
        with pytest.raises(StudioError, match="unknown format"):
            studio.export(["pdf"])
    finally:
        studio.close()
