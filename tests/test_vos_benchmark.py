"""bench-vos: real DAVIS frames with human masks, through the batch pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from tracker.cli import main as cli_main
from tracker.evaluate import EvaluationError
from tracker.vos_benchmark import find_sequences, read_annotation, run_vos_benchmark

DEV = ROOT.parent / "shared" / "davis16-dev"
pytestmark = pytest.mark.skipif(not DEV.is_dir(), reason="../shared/davis16-dev is not here")


@pytest.fixture(scope="module")
def blackswan(tmp_path_factory):
    """The default (nothing downloaded, default settings: the flow-and-colour tracker) and
    both baselines on the first 12 frames of a dev sequence."""
    out = tmp_path_factory.mktemp("vos")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLICKTRACK_CHECKPOINTS", str(out))  # only the bundled model
        return run_vos_benchmark(DEV, out, ["blackswan"], 12), out


def test_the_default_beats_holding_the_first_mask(blackswan):
    """Measured on these 12 frames: the default 0.96 and the flow carry 0.94 against a
    static 0.63; the margins asked for are under two thirds of those measured."""
    result, _ = blackswan
    jf = {name: method.report.jf for name, method in result.methods.items()}
    assert jf["model"] > jf["static"] + 0.2
    assert jf["flow"] > jf["static"] + 0.2
    assert result.frames == 12 and result.methods["model"].seconds_per_frame > 0
    assert [v.name for v in result.methods["model"].report.videos] == ["blackswan"]
    assert "blackswan" in result.table() and "overall J&F" in result.table()


def test_predictions_come_from_the_batch_pipeline(blackswan):
    _, out = blackswan
    folder = out / "model" / "blackswan"
    assert len(list((folder / "masks").glob("*.png"))) == 12
    assert (folder / "overlay.mp4").stat().st_size > 0
    status = json.loads((folder / ".clicktrack.json").read_text())
    assert status["complete"] and status["propagation"] == "flow-color"  # the default
    assert status["deaot"] is None and "flip" not in status


def test_reports_as_json_and_csv(blackswan, tmp_path):
    result, _ = blackswan
    result.write(tmp_path / "report.json")
    document = json.loads((tmp_path / "report.json").read_text())
    assert set(document["methods"]) == {"model", "static", "flow"}
    assert document["methods"]["flow"]["sequences"]["blackswan"]["jf"] == pytest.approx(
        result.methods["flow"].report.jf)
    result.write(tmp_path / "report.csv")
    rows = (tmp_path / "report.csv").read_text().splitlines()
    assert rows[0] == "method,sequence,jf,j,f,seconds_per_frame" and len(rows) == 7


def test_zero_and_255_masks_are_object_one(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    assert set(np.unique(read_annotation(tmp_path / "m.png"))) == {0, 1}


def test_bad_folders_are_refused(tmp_path, caplog):
    with pytest.raises(EvaluationError, match="expected JPEGImages"):
        find_sequences(tmp_path)
    with pytest.raises(EvaluationError, match="no sequences nowhere"):
        find_sequences(DEV, ["nowhere"])
    assert cli_main(["bench-vos", str(tmp_path)]) == 2
    assert "expected JPEGImages" in caplog.text
    sequences = find_sequences(DEV, max_frames=5)
    assert len(sequences) == 6 and all(len(s.frames) == 5 for s in sequences)
    assert all(isinstance(p, Path) and p.exists() for s in sequences for p in s.annotations)
