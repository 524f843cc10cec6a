"""bench-clicks: the RITM / SAM click protocol on real DAVIS frames, with real segmenters."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT
from scipy.ndimage import distance_transform_edt

from tracker.cli import main as cli_main
from tracker.click_benchmark import InstanceResult, find_instances, iou, next_click, run_clicks
from tracker.geodesic_grabcut import GeodesicGrabCutSegmenter
from tracker.grabcut import GrabCutSegmenter
from tracker.segmenter import Prompt

DEV = ROOT.parent / "shared" / "davis16-dev"
pytestmark = pytest.mark.skipif(not DEV.is_dir(), reason="../shared/davis16-dev is not here")


@pytest.fixture(scope="module")
def blackswan():
    """The first frame of blackswan (854x480, one object)."""
    instance = next(find_instances(DEV, ["blackswan"]))
    assert (instance.frame, instance.object_id, instance.truth.shape) == (0, 1, (480, 854))
    return instance


def inner_distance(region: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance of each pixel of an (H, W) bool region to the nearest pixel
    outside it, the frame's edge counting as outside."""
    return distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]


def clicks_with_masks(segmenter, instance, count: int):
    """The protocol step by step: each click with the mask it was computed from."""
    steps, previous, clicks = [], None, []
    for _ in range(count):
        before = None if previous is None else previous.mask
        click = next_click(instance.truth, before)
        clicks.append(click)
        steps.append((click, before))
        previous = segmenter.segment(instance.image, Prompt(
            tuple((c.x, c.y) for c in clicks), tuple(int(c.positive) for c in clicks)), previous)
    return steps, previous.mask


@pytest.mark.parametrize("segmenter", [GrabCutSegmenter(), GeodesicGrabCutSegmenter()],
                         ids=lambda s: s.name)
def test_clicks_follow_the_protocol(blackswan, segmenter):
    """Measured: grabcut clicks + - -, geodesic_grabcut + - +; both have a negative click."""
    truth = blackswan.truth
    steps, last = clicks_with_masks(segmenter, blackswan, 3)
    first, before = steps[0]
    assert before is None and first.positive and truth[first.y, first.x]
    distance = inner_distance(truth)
    assert distance[first.y, first.x] == pytest.approx(distance.max(), abs=1e-3)
    for click, before in steps[1:]:
        misses, alarms = inner_distance(truth & ~before), inner_distance(~truth & before)
        chosen = misses if click.positive else alarms
        # the error region with the farther inner point, clicked at that point
        assert chosen.max() >= max(misses.max(), alarms.max()) - 1e-3
        assert chosen[click.y, click.x] == pytest.approx(chosen.max(), abs=1e-3)
        if click.positive:
            assert truth[click.y, click.x] and not before[click.y, click.x]
        else:  # a false alarm: background the mask had taken
            assert before[click.y, click.x] and not truth[click.y, click.x]
    assert any(not click.positive for click, _ in steps)
    result = run_clicks(segmenter, blackswan, 3)
    assert result.clicks == tuple(click for click, _ in steps)
    assert result.ious[-1] == pytest.approx(iou(truth, last))
    assert len(result.seconds) == 3 and min(result.seconds) > 0


def test_geodesic_grabcut_beats_grabcut_after_three_clicks(blackswan):
    """Measured on this frame: IoU@3 0.83 against GrabCut's 0.51 (+0.32); asked: half that
    margin and an absolute floor of 0.75."""
    new = run_clicks(GeodesicGrabCutSegmenter(), blackswan, 3).iou_after(3)
    old = run_clicks(GrabCutSegmenter(), blackswan, 3).iou_after(3)
    assert new >= old + 0.15
    assert new >= 0.75


def test_the_larger_error_gets_the_click():
    truth = np.zeros((40, 60), bool)
    truth[5:25, 5:25] = True
    predicted = truth.copy()
    predicted[10:40, 30:60] = True  # a false alarm wider than the object
    predicted[5:9, 5:25] = False  # a thin miss
    click = next_click(truth, predicted)
    alarms = inner_distance(~truth & predicted)
    assert not click.positive and predicted[click.y, click.x] and not truth[click.y, click.x]
    assert alarms[click.y, click.x] == pytest.approx(alarms.max())
    predicted = np.zeros_like(truth)
    predicted[30:34, 40:44] = True  # the object missed, a small false alarm
    click = next_click(truth, predicted)
    assert click.positive and truth[click.y, click.x] and not predicted[click.y, click.x]
    assert next_click(truth, truth) is None
    assert next_click(truth, None).positive


def test_noc_counts_never_reaching_as_the_maximum():
    result = InstanceResult("s", 0, 1, (), (0.5, 0.86, 0.91), (0.1, 0.1, 0.1))
    assert result.clicks_to(0.85, 5) == 2 and result.clicks_to(0.90, 5) == 3
    assert result.clicks_to(0.95, 5) == 5
    assert result.iou_after(5) == 0.91  # no more clicks once perfect or cut short


def test_command_reports_as_json_and_csv(tmp_path, capsys):
    report = tmp_path / "clicks.json"
    assert cli_main(["bench-clicks", str(DEV), "--segmenter", "geodesic_grabcut", "--clicks",
                     "2", "--sequences", "blackswan", "--report", str(report)]) == 0
    table = capsys.readouterr().out
    assert "blackswan/00000#1" in table and "blackswan/00025#1" in table
    assert "NoC@85" in table and "854x480" in table
    document = json.loads(report.read_text())
    assert document["segmenter"] == "geodesic_grabcut" and document["sizes"] == [[854, 480]]
    assert set(document["miou"]) == {"1"} and len(document["instances"]) == 2
    assert all(len(i["ious"]) == 2 and i["clicks"][0][2] == 1 for i in document["instances"])
    assert cli_main(["bench-clicks", str(DEV), "--segmenter", "geodesic_grabcut", "--clicks",
                     "1", "--sequences", "blackswan", "--report", str(tmp_path / "c.csv")]) == 0
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert rows[0] == "segmenter,sequence,frame,object_id,click,x,y,positive,iou,seconds"
    assert len(rows) == 3 and rows[1].startswith("geodesic_grabcut,blackswan,0,1,1,")


def test_bad_choices_exit_2(tmp_path, caplog):
    from tracker.models import sam_weights

    assert cli_main(["bench-clicks", str(DEV), "--segmenter", "nothing_known"]) == 2
    assert "unknown sam model 'nothing_known'" in caplog.text
    assert cli_main(["bench-clicks", str(tmp_path)]) == 2
    assert "expected JPEGImages" in caplog.text
    if sam_weights(None, "cpu") is None:
        assert cli_main(["bench-clicks", str(DEV), "--segmenter", "sam"]) == 2
        assert "no SAM checkpoint is present" in caplog.text
