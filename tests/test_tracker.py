"""Tracking sessions on real frames: prompts, stable ids, both directions, edits, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from tracker.grabcut import GrabCutSegmenter
from tracker.masks import read_label_png
from tracker.segmenter import Prompt
from tracker.tracker import Tracker
from tracker.video import open_video

VAN = Prompt(((75.0, 48.0), (30.0, 100.0)), (1, 1), (0, 20, 150, 136))
CYCLIST = Prompt(((225.0, 65.0),), (1,), (185, 25, 255, 136))
MOTORBIKE = Prompt(((300.0, 90.0),), (1,), (262, 75, 320, 136))


@pytest.fixture()
def tracker(small_clip, bundled_model, tmp_path):
    return Tracker(open_video(small_clip), tmp_path / "session", bundled_model,
                   GrabCutSegmenter())


def _ids(tracker: Tracker, frame: int) -> set[int]:
    labels = read_label_png(tracker.masks.path(frame))
    return {int(i) for i in np.unique(labels) if i}


def test_clicks_to_mask_to_tracking(tracker):
    van = tracker.new_object()
    outcome = tracker.prompt(0, van, VAN)
    assert outcome.result.segmenter == "grabcut" and outcome.labels[60, 60] == van
    cyclist = tracker.new_object()
    tracker.prompt(0, cyclist, CYCLIST)
    assert (van, cyclist) == (1, 2)
    seen = []
    report = tracker.track(on_progress=lambda done, total: seen.append((done, total)))
    assert report.frames == 12 and not report.cancelled
    assert seen[-1] == (12, 12)
    assert tracker.masks.indices() == list(range(12))
    assert np.array_equal(read_label_png(tracker.masks.path(0)), tracker.labels(0))
    for frame in range(12):
        assert _ids(tracker, frame) <= {van, cyclist}  # no id appears from nowhere
    assert _ids(tracker, 1) == {van, cyclist}


def test_object_added_mid_video(tracker):
    tracker.prompt(0, 1, VAN)
    tracker.prompt(0, 2, CYCLIST)
    tracker.track()
    bike = tracker.new_object()
    assert bike == 3
    tracker.prompt(6, bike, MOTORBIKE)
    labels_6 = tracker.labels(6)
    tracker.track(start=6, direction="forward")
    assert np.array_equal(read_label_png(tracker.masks.path(6)), labels_6)
    assert 3 in _ids(tracker, 6) and 3 in _ids(tracker, 7)
    assert all(3 not in _ids(tracker, f) for f in range(6))  # earlier frames untouched


def test_tracking_backward_from_a_middle_frame(tracker):
    tracker.prompt(6, 1, VAN)
    report = tracker.track()
    assert report.frames == 12
    assert tracker.masks.indices() == list(range(12))
    assert 1 in _ids(tracker, 5) and 1 in _ids(tracker, 0)


def test_annotations_are_kept_when_tracking_reaches_them(tracker):
    tracker.prompt(0, 1, VAN)
    tracker.prompt(8, 2, CYCLIST)
    annotated = tracker.labels(8)
    tracker.track(start=0)
    stored = read_label_png(tracker.masks.path(8))
    assert np.array_equal(stored == 2, annotated == 2)


def test_ids_are_never_reused_and_undo(tracker):
    tracker.prompt(0, tracker.new_object(), VAN)
    second = tracker.new_object()
    tracker.prompt(0, second, CYCLIST)
    tracker.remove_object(second)
    assert second not in tracker.objects and not (tracker.labels(0) == second).any()
    assert tracker.new_object() == 3
    with pytest.raises(ValueError, match="removed"):
        tracker.prompt(0, second, CYCLIST)
    assert tracker.undo() and tracker.undo()  # new object, then the removal
    assert second in tracker.objects and (tracker.labels(0) == second).any()


def test_clicks_accumulate_per_object_and_frame(tracker):
    first = tracker.prompt(0, 1, Prompt(((225.0, 65.0), (215.0, 40.0)), (1, 1)))
    refined = tracker.prompt(0, 1, Prompt(((225.0, 50.0),), (0,)))  # a negative click
    assert first.result.mask[50, 225] and not refined.result.mask[50, 225]
    assert refined.result.mask[65, 225] and refined.result.mask[40, 215]
    assert refined.result.mask.sum() < first.result.mask.sum()
    assert tracker.annotations[0].ids == frozenset({1})
    assert np.array_equal(tracker.labels(0) == 1, refined.result.mask)


def test_cancel_keeps_written_results_valid(tracker):
    tracker.prompt(0, 1, VAN)
    done = []
    report = tracker.track(on_progress=lambda d, t: done.append(d),
                           should_stop=lambda: len(done) >= 5)
    assert report.cancelled and 5 <= report.frames <= 6  # the frame in flight is kept
    assert tracker.masks.indices() == list(range(report.frames))
    for index in range(report.frames):
        assert read_label_png(tracker.masks.path(index)).shape == (136, 320)


def test_bad_requests(tracker):
    with pytest.raises(ValueError, match="nothing to track"):
        tracker.track()
    with pytest.raises(IndexError, match="outside"):
        tracker.prompt(12, 1, VAN)
    with pytest.raises(ValueError, match="mask is 10x10"):
        tracker.set_labels(0, np.ones((10, 10), np.uint8))
    tracker.prompt(0, 1, VAN)
    with pytest.raises(ValueError, match="has no annotation"):
        tracker.track(start=3)
