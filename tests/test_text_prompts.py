"""Text prompts: Grounding DINO (transformers, a toy model with random weights) turns text
into boxes, the segmenter (SAM 2.1 at toy size, or GrabCut) the boxes into masks, and the
tracker's find-new-objects rule the masks into objects with ids never reused; the batch
command's --text with discovery; the detector as a registry model (listed, downloaded as a
folder, checked; a clear message when it is missing)."""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pytest
from conftest import DEMO_CLIP
from text_models import save_toy_detector, toy_sam2, write_detector_registry
from weights_server import closed_port_url, weights_server, write_registry

from tracker.batch import STATUS_FILE
from tracker.cli import main as cli_main
from tracker.download import DownloadError, NoNetworkError
from tracker.models import ModelCache
from tracker.on_demand import fetch, obtain
from tracker.sam2_segmenter import Sam2Segmenter
from tracker.text_detector import (
    MISSING_DETECTOR,
    TextPromptConfig,
    load_detector,
    normalize_prompt,
)
from tracker.tracker import Tracker
from tracker.tracking_options import TrackingOptions
from tracker.video import open_video

pytest.importorskip("transformers")  # the extras "text" and "sam2"; tracker imports neither
pytest.importorskip("sam2")
pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated"),
              pytest.mark.filterwarnings("ignore:cannot import name '_C'")]

TEXT = "Person . bicycle"
#: Thresholds that let the toy detector's boxes through (its scores are random).
LOOSE = TextPromptConfig(box_threshold=0.0, text_threshold=0.0)
FLOW_COLOR = TrackingOptions(propagation="flow-color").resolve()


@pytest.fixture(scope="module")
def detector_folder(tmp_path_factory):
    return save_toy_detector(tmp_path_factory.mktemp("detectors") / "grounding-dino-tiny")


@pytest.fixture(scope="module")
def detector(detector_folder):
    return load_detector(detector_folder)


def _inside(region: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    x0, y0, x1, y1 = box
    within = np.zeros_like(region)
    within[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] = True
    return not (region & ~within).any()


def test_prompts_are_normalized_as_grounding_dino_was_trained():
    assert normalize_prompt(" Person . BICYCLE.  red   car ") == "person. bicycle. red car."
    with pytest.raises(ValueError, match="names nothing"):
        normalize_prompt(" . ")
    with pytest.raises(ValueError, match="must lie in 0..1"):
        TextPromptConfig(box_threshold=1.5)


def test_text_finds_objects_with_new_ids_inside_their_boxes(detector, tmp_path):
    with open_video(DEMO_CLIP) as video:
        tracker = Tracker(video, tmp_path, None, Sam2Segmenter(toy_sam2()), min_area=20,
                          plan=FLOW_COLOR, detector=detector, text_config=LOOSE)
        boxes = [d.box for d in detector.detect(tracker.frame(0), TEXT, LOOSE)]
        assert boxes and all(0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 272
                             for x0, y0, x1, y1 in boxes)
        ids = tracker.find(0, TEXT)
        assert ids and ids == list(range(1, len(ids) + 1))
        labels = tracker.labels(0)
        for object_id in ids:
            region = labels == object_id
            assert region.sum() >= 20 and any(_inside(region, box) for box in boxes)
            found = tracker.objects[object_id]
            assert (found.first_frame, found.source, found.segmenter) == (0, "text", "sam2_toy")
            assert set(tracker.categories[object_id].split()) <= {"person", "bicycle"}
        assert tracker.find(0, TEXT) == []  # what is labelled is not found twice

        tracker.remove_object(ids[0])  # its place is free again, its id is not
        again = tracker.find(0, TEXT)
        assert again and min(again) == max(ids) + 1
        elsewhere = tracker.find(30, TEXT)
        assert elsewhere and min(elsewhere) == max(again) + 1
        assert {tracker.objects[i].first_frame for i in elsewhere} == {30}
        assert tracker.annotations.keys() == {0, 30}

        tracker.detector = None
        with pytest.raises(ValueError, match="text prompts need the Grounding DINO detector"):
            tracker.find(0, TEXT)


def test_track_text_with_sam_gap_discovers_objects_and_never_reuses_ids(
        detector_folder, small_clip, tmp_path, caplog):
    out = tmp_path / "out"
    args = ["track", str(small_clip), "--out", str(out), "--text", TEXT, "--detector",
            str(detector_folder), "--box-threshold", "0", "--text-threshold", "0", "--sam",
            "geodesic_grabcut", "--sam-gap", "3", "--min-area", "20", "--propagation",
            "flow-color", "--formats", "masks,objects"]
    assert cli_main(args) == 0
    record = json.loads((out / "small" / STATUS_FILE).read_text())
    assert record["complete"] and record["frames"] == 12
    assert record["fingerprint"]["annotation"] == {"text": "person. bicycle."}
    assert (record["detector"], record["box_threshold"]) == (str(detector_folder), 0.0)
    objects = json.loads((out / "small" / "objects.json").read_text())["objects"]
    found = {o["id"]: o for o in objects}
    first = [i for i, o in found.items() if o["source"] == "text"]
    discovered = [i for i, o in found.items() if o["source"] == "discovered"]
    assert first and discovered and sorted(first + discovered) == sorted(found)
    assert all(found[i]["first_frame"] == 0 for i in first)
    assert all(found[i]["first_frame"] in (3, 6, 9) for i in discovered)
    assert min(discovered) > max(first)  # ids go on from the largest ever used
    by_frame = sorted(discovered, key=lambda i: (found[i]["first_frame"], i))
    assert by_frame == sorted(discovered)
    assert all(found[i]["category"] in ("person", "bicycle", "person bicycle") for i in found)
    assert len(list((out / "small" / "masks").glob("*.png"))) == 12

    caplog.clear()
    caplog.set_level(logging.INFO)
    assert cli_main(args) == 0  # the same prompt, detector and thresholds: up to date
    assert any("up to date" in r.getMessage() for r in caplog.records)


def test_a_missing_detector_says_what_to_download(tmp_path, monkeypatch, small_clip, caplog):
    monkeypatch.setenv("CLICKTRACK_CHECKPOINTS", str(tmp_path / "empty"))
    assert cli_main(["track", str(small_clip), "--out", str(tmp_path / "out"), "--text", TEXT,
                     "--offline"]) == 2
    assert any("grounding_dino_tiny is not downloaded, and downloads are off" in r.getMessage()
               for r in caplog.records)
    with pytest.raises(FileNotFoundError, match="python -m tracker download grounding_dino"):
        ModelCache().detector()

    nowhere = closed_port_url()
    monkeypatch.setenv("CLICKTRACK_REGISTRY", str(write_registry(tmp_path / "registry.json", {
        "grounding_dino_tiny": {"kind": "detector", "arch": "grounding_dino_tiny",
                                "file": "gd", "url": nowhere, "files": {"config.json": {}}}})))
    with pytest.raises(NoNetworkError) as raised:
        obtain("grounding_dino_tiny", "detector")  # no network: nothing stands in for it
    assert str(raised.value).startswith("no network, so grounding_dino_tiny cannot be ")
    assert str(raised.value).endswith(MISSING_DETECTOR) and "\n" not in str(raised.value)


def test_the_detector_downloads_as_a_checked_folder(detector_folder, tmp_path, monkeypatch):
    files = {p.name: p.read_bytes() for p in detector_folder.iterdir() if p.is_file()}
    monkeypatch.setenv("CLICKTRACK_CHECKPOINTS", str(tmp_path / "checkpoints"))
    with weights_server({f"gd/{n}": data for n, data in files.items()}) as server:
        def entry(model_hash):
            hashes = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
            hashes["model.safetensors"] = model_hash
            return {"kind": "detector", "arch": "grounding_dino_tiny", "file": "gd-tiny",
                    "url": server.url + "gd", "files": {n: {"sha256": h} if h else {}
                                                        for n, h in hashes.items()}}
        registry = tmp_path / "registry.json"
        monkeypatch.setenv("CLICKTRACK_REGISTRY", str(registry))
        write_registry(registry, {"grounding_dino_tiny": entry("0" * 64)})
        with pytest.raises(DownloadError, match="model.safetensors: SHA-256"):
            fetch("grounding_dino_tiny")
        assert not (tmp_path / "checkpoints" / "gd-tiny").exists()

        write_registry(registry, {"grounding_dino_tiny": entry(None)})  # checked by loading
        folder = fetch("grounding_dino_tiny")
        assert folder == tmp_path / "checkpoints" / "gd-tiny"
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == files
        assert sorted(p.name for p in folder.parent.iterdir()) == ["gd-tiny"]
        assert ModelCache().detector().name == "gd-tiny"  # the default, now present

        server.files["gd/model.safetensors"] = files["model.safetensors"][:-100]  # cut short
        write_registry(registry, {"grounding_dino_base": {**entry(None), "file": "gd-b",
                                                          "arch": "grounding_dino_base"}})
        with pytest.raises(DownloadError, match="no usable detector"):
            fetch("grounding_dino_base")
        assert sorted(p.name for p in folder.parent.iterdir()) == ["gd-tiny"]


def test_models_lists_the_detectors_and_sam2_checkpoints(capsys):
    assert cli_main(["models"]) == 0
    listing = capsys.readouterr().out
    for name in ("grounding_dino_tiny", "grounding_dino_base", "sam2.1_hiera_tiny",
                 "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large"):
        (line,) = [line for line in listing.splitlines() if line.split()[0] == name]
        assert f"python -m tracker download {name}" in line or "present" in line


def test_the_studio_finds_objects_and_lists_them(detector_folder, tmp_path, monkeypatch):
    from tracker.studio_session import Settings, StudioError, StudioSession

    monkeypatch.setenv("CLICKTRACK_CHECKPOINTS", str(detector_folder.parent))
    monkeypatch.setenv("CLICKTRACK_REGISTRY", str(write_detector_registry(
        tmp_path / "registry.json", detector_folder)))
    session = StudioSession(tmp_path / "sessions", ModelCache(), Settings(sam="grabcut"))
    session.load(DEMO_CLIP)
    status = session.find(0, TEXT, LOOSE)
    ids = [row[0] for row in session.objects()]
    assert ids and status == f"found objects {ids} for {TEXT!r} on frame 0"
    assert all("from frame 0 (text, grabcut)" in row[2] for row in session.objects())
    assert session.tracker.text == TEXT  # what discovery looks for from now on
    session.remove_object(ids[0])
    assert [row[0] for row in session.objects()] == ids[1:]
    with pytest.raises(ValueError, match="names nothing"):
        session.find(0, " ")
    session.close()

    monkeypatch.setenv("CLICKTRACK_CHECKPOINTS", str(tmp_path / "empty"))
    other = StudioSession(tmp_path / "sessions", ModelCache(), Settings(sam="grabcut"))
    other.load(DEMO_CLIP)
    with pytest.raises(StudioError, match="download it in the Settings"):
        other.find(0, TEXT)
    other.close()
