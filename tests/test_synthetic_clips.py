"""The synthetic clip generator: reproducible, and its masks are what was drawn."""

from __future__ import annotations

import numpy as np
import pytest

from aot.train.synthetic_clips import SyntheticClips, _visible_at_start


@pytest.fixture(scope="module")
def clips():
    return SyntheticClips(seed=7, size=(97, 129), frames=24, max_objects=3)


def test_same_seed_same_clip(clips):
    frames, labels = clips[3]
    again_frames, again_labels = SyntheticClips(7, (97, 129), 24, 3)[3]
    assert np.array_equal(frames, again_frames) and np.array_equal(labels, again_labels)
    other_frames, _ = SyntheticClips(8, (97, 129), 24, 3)[3]
    assert not np.array_equal(frames, other_frames)
    assert frames.shape == (24, 97, 129, 3) and labels.shape == (24, 97, 129)
    assert frames.dtype == labels.dtype == np.uint8


def test_masks_match_the_rendered_objects(clips):
    import numpy.random as npr

    for index in range(6):
        frames, labels = clips[index]
        # Rebuild the clip's objects from the same random stream and composite their
        # masks: the label map must be exactly the topmost object at every pixel.
        rng = npr.default_rng([clips.seed, index])
        clips._background(rng)
        tracks = clips._tracks(rng)
        for t in (0, 11, 23):
            expected = np.zeros(labels[t].shape, np.uint8)
            for object_id, track in enumerate(tracks, start=1):
                expected[track.warp(t, 97, 129)[1]] = object_id
            assert np.array_equal(labels[t], expected)
        ids = set(np.unique(labels)) - {0}
        assert ids == set(range(1, len(tracks) + 1))
        assert ids == set(np.unique(labels[0])) - {0}  # every object shows in frame 0


def test_objects_move_occlude_leave_and_come_back():
    clips = SyntheticClips(seed=3, size=(97, 129), frames=40, max_objects=3)
    moved = occluded = returned = False
    for index in range(25):
        _, labels = clips[index]
        areas = np.array([[(labels[t] == i).sum() for i in range(1, 4)] for t in range(40)])
        first = labels[0] == 1
        moved |= (first != (labels[20] == 1)).sum() > 50
        occluded |= bool(((np.diff(areas, axis=0) < -20) & (areas[1:] > 0)).any())
        gone = areas == 0
        returned |= any(gone[5:30, i].any() and areas[30:, i].sum() > 0
                        for i in range(3) if areas[0, i] > 0)
    assert moved and occluded and returned


def test_hidden_objects_are_dropped_from_a_clip(clips):
    tracks = clips._tracks(np.random.default_rng(0))
    assert _visible_at_start(tracks, 97, 129) == tracks
    offscreen = [t.__class__(t.texture, t.shape, t.position + 1000, t.angle, t.scale)
                 for t in tracks]
    assert _visible_at_start(offscreen, 97, 129) == offscreen[:1]
