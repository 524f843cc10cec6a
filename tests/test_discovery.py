"""New-object discovery: SAM-Track's rule, ids that never collide, and its use in tracking."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import box_mask
from tracker.discovery import find_new_objects
from tracker.grabcut import GrabCutSegmenter
from tracker.segmenter import Prompt, Segmenter
from tracker.tracker import Tracker
from tracker.video import open_video


def _disc(shape, centre, radius):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2


def test_rule_thresholds():
    shape = (100, 100)
    tracked = box_mask(shape, {1: (0, 0, 50, 100)})
    free = _disc(shape, (50, 75), 12)                 # entirely on background
    straddling = _disc(shape, (20, 50), 12)           # half on object 1
    mostly_free = (_disc(shape, (80, 55), 10))         # ~12% on object 1: new
    tiny = _disc(shape, (90, 90), 3)                  # on background, too small
    new, ids = find_new_objects(tracked, [free, straddling, mostly_free, tiny], next_id=7,
                                min_area=100)
    assert ids == [7, 8]
    assert (new == 7).sum() == free.sum()
    assert ((new == 8) == (mostly_free & (tracked == 0))).all()  # only its background part
    assert not (new[straddling & ~mostly_free] > 0).any()


def test_ids_follow_the_largest_id_ever_used_and_stop_at_255():
    shape = (60, 60)
    tracked = np.zeros(shape, np.uint8)
    segments = [_disc(shape, (15, 15), 8), _disc(shape, (45, 45), 8), _disc(shape, (15, 45), 8)]
    _, ids = find_new_objects(tracked, segments, next_id=254, min_area=10)
    assert ids == [254, 255]


def test_overlapping_segments_do_not_share_pixels():
    shape = (60, 60)
    a, b = _disc(shape, (30, 25), 10), _disc(shape, (30, 32), 10)
    new, ids = find_new_objects(np.zeros(shape, np.uint8), [a, b], next_id=1, min_area=10,
                                min_background_ratio=0.3)
    assert ids == [1, 2] and ((new == 1) == a).all() and not ((new == 2) & a).any()


class GrabCutEverything(GrabCutSegmenter):
    """GrabCut that also answers "segment everything" with fixed boxes (a stand-in for
    SAM's automatic mode, which needs downloaded weights)."""

    can_segment_everything = True

    def __init__(self, boxes: list[tuple[int, int, int, int]]) -> None:
        self.boxes = boxes
        self.calls: list[int] = []

    def segment_everything(self, image, min_area):
        self.calls.append(len(self.calls))
        masks = [self.segment(image, Prompt(box=box)).mask for box in self.boxes]
        return [m for m in masks if m.sum() >= min_area]


@pytest.fixture()
def tracker_factory(small_clip, bundled_model, tmp_path):
    def make(segmenter: Segmenter, **options) -> Tracker:
        return Tracker(open_video(small_clip), tmp_path / "session", bundled_model, segmenter,
                       **options)
    return make


def test_discovery_while_tracking(tracker_factory):
    # Van and cyclist are prompted; "everything" also finds the motorbike and the van again.
    segmenter = GrabCutEverything([(0, 20, 150, 136), (262, 75, 320, 136)])
    tracker = tracker_factory(segmenter, sam_gap=4, min_area=100)
    tracker.prompt(0, 1, Prompt(box=(0, 20, 150, 136)))
    tracker.prompt(0, 2, Prompt(box=(185, 25, 255, 136)))
    tracker.remove_object(2)
    tracker.prompt(0, 3, Prompt(box=(185, 25, 255, 136)))
    report = tracker.track()
    assert segmenter.calls, "discovery ran"
    assert report.discovered and report.discovered[0] == 4  # after removed id 2 and id 3
    assert len(set(report.discovered)) == len(report.discovered)
    first = report.discovered[0]
    found_on = tracker.objects[first].first_frame
    assert found_on % 4 == 0 and tracker.objects[first].source == "discovered"
    assert first in np.unique(tracker.masks.read(found_on))
    assert 2 not in np.unique(np.concatenate([tracker.masks.read(i) for i in range(12)]))


def test_discovery_needs_everything_mode(tracker_factory):
    with pytest.raises(ValueError, match="sam_gap needs SAM"):
        tracker_factory(GrabCutSegmenter(), sam_gap=5)
