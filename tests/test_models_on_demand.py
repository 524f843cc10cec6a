"""Models on demand (tracker.on_demand, the studio's Download section, track --deaot NAME)
against a local weights server on 127.0.0.1, through ``$CLICKTRACK_REGISTRY``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from conftest import ROOT, box_mask
from weights_server import closed_port_url, deaot_entry, weights_server, write_registry

from clicktrack_studio.model_downloads import download_model
from tracker.batch import STATUS_FILE
from tracker.cli import main as cli_main
from tracker.download import DownloadError
from tracker.masks import encode_png
from tracker.on_demand import fetch, obtain
from tracker.registry import load_registry

FILE = "DeAOTT_PRE_YTB_DAV.pth"


@pytest.fixture(scope="module")
def checkpoint_bytes(deaott_checkpoint) -> bytes:
    """A real official-format DeAOT-T checkpoint (synthetic weights), 28 MiB."""
    return deaott_checkpoint.read_bytes()


@pytest.fixture(scope="module")
def first_mask(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("masks") / "first.png"
    path.write_bytes(encode_png(box_mask((136, 320), {1: (0, 20, 150, 136)})))
    return path


def _use_registry(tmp_path: Path, monkeypatch, entries: dict[str, dict]) -> None:
    monkeypatch.setenv("CLICKTRACK_REGISTRY",
                       str(write_registry(tmp_path / "registry.json", entries)))
    monkeypatch.setenv("CLICKTRACK_CHECKPOINTS", str(tmp_path / "checkpoints"))


@pytest.fixture()
def served(tmp_path, monkeypatch, checkpoint_bytes):
    """The server holding the DeAOT-T checkpoint, listed as ``deaott`` (no published hash:
    checked key by key); an empty checkpoint folder."""
    with weights_server({FILE: checkpoint_bytes}) as server:
        _use_registry(tmp_path, monkeypatch, {"deaott": deaot_entry(server.url)})
        yield server


def _checkpoints(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "checkpoints").iterdir())


def test_a_missing_model_is_downloaded_once(served, tmp_path):
    assert load_registry()["clicktrack_deaott"].present  # the bundled model stays listed
    assert obtain("deaott", "deaot", show_progress=False) == "deaott"
    assert (tmp_path / "checkpoints" / FILE).read_bytes() == served.files[FILE]
    assert obtain("deaott", "deaot") == "deaott"  # present now: no second request
    assert served.bodies == [(FILE, None)] and served.connections == 1
    assert _checkpoints(tmp_path) == [FILE]  # no part or lock file left


def test_a_transfer_cut_midway_resumes(served, tmp_path):
    served.cut_after = 10 * 2 ** 20
    with pytest.raises(DownloadError, match="broke off after 10485760 bytes"):
        fetch("deaott")
    assert (tmp_path / "checkpoints" / f"{FILE}.part").stat().st_size == 10 * 2 ** 20
    assert fetch("deaott").read_bytes() == served.files[FILE]
    assert served.bodies == [(FILE, None), (FILE, "bytes=10485760-")]
    assert _checkpoints(tmp_path) == [FILE]


def test_a_wrong_checksum_is_rejected_and_an_old_model_kept(served, tmp_path, monkeypatch):
    _use_registry(tmp_path, monkeypatch, {"deaott": deaot_entry(served.url, sha256="0" * 64)})
    with pytest.raises(DownloadError, match="does not match the registry"):
        fetch("deaott")
    assert _checkpoints(tmp_path) == []  # the partial file removed
    old = tmp_path / "checkpoints" / FILE
    old.write_bytes(b"an older model")
    with pytest.raises(DownloadError, match="exists but does not verify"):
        fetch("deaott")
    assert old.read_bytes() == b"an older model" and _checkpoints(tmp_path) == [FILE]
    assert len(served.bodies) == 1


def test_sam_without_a_hash_is_checked_key_by_key(served, tmp_path, monkeypatch):
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        layout = sam_model_registry["vit_b"](checkpoint=None).state_dict()
    # every tensor a view of one number: the real vit_b layout in a 100 kB file
    state = {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in layout.items()}
    for name, tensors in {"good.pth": state,
                          "bad.pth": {k: v for k, v in state.items() if "neck" not in k}}.items():
        stream = io.BytesIO()
        torch.save(tensors, stream)
        served.files[name] = stream.getvalue()
    sam = {"kind": "sam", "arch": "vit_b", "size": None, "sha256": None}
    _use_registry(tmp_path, monkeypatch, {
        "sam_vit_b": {**sam, "file": "sam_b.pth", "url": served.url + "good.pth"},
        "sam_vit_b_bad": {**sam, "file": "sam_bad.pth", "url": served.url + "bad.pth"}})
    assert fetch("sam_vit_b").is_file()
    with pytest.raises(DownloadError, match=r"does not fit SAM vit_b: \d+ missing keys"):
        fetch("sam_vit_b_bad")
    assert _checkpoints(tmp_path) == ["sam_b.pth"]


def test_no_network_says_so_in_one_line_and_falls_back(tmp_path, monkeypatch, small_clip,
                                                        first_mask, caplog):
    nowhere = closed_port_url()
    _use_registry(tmp_path, monkeypatch, {
        "deaott": deaot_entry(nowhere),
        "sam_vit_b": {"kind": "sam", "arch": "vit_b", "file": "sam_b.pth",
                      "url": nowhere + "sam_b.pth", "size": 5, "sha256": "0" * 64}})
    status = download_model("sam_vit_b")  # the studio
    assert status.startswith("⚠️ no network, so sam_vit_b cannot be downloaded (")
    assert status.endswith("using the offline click segmenter (geodesic_grabcut) instead, "
                           "as when no model is named") and "\n" not in status
    caplog.clear()
    out = tmp_path / "out"  # the batch command
    assert cli_main(["track", str(small_clip), "--mask", str(first_mask), "--deaot", "deaott",
                     "--out", str(out)]) == 0
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"
                  and "no network" in r.getMessage()]
    assert "Connection refused" in warning and "\n" not in warning
    assert "using ClickTrack's bundled DeAOT model instead" in warning
    record = json.loads((out / "small" / STATUS_FILE).read_text())
    assert record["complete"] and record["frames"] == 12 and record["deaot"] is None
    assert _checkpoints(tmp_path) == []


def test_offline_never_opens_a_connection(served, tmp_path, small_clip, first_mask, caplog):
    assert cli_main(["track", str(small_clip), "--mask", str(first_mask), "--deaot", "deaott",
                     "--offline", "--out", str(tmp_path / "out")]) == 2
    assert "deaott is not downloaded" in caplog.text
    assert "run: python -m tracker download deaott" in caplog.text
    assert served.connections == 0 and not (tmp_path / "out" / "small").exists()


def test_two_sessions_asking_at_once_share_one_download(served, tmp_path, caplog):
    caplog.set_level("INFO")
    served.delay_s = 1.0  # the second asks while the first is downloading
    start = threading.Barrier(2)
    statuses = []

    def session() -> None:
        start.wait()
        statuses.append(download_model("deaott"))

    threads = [threading.Thread(target=session) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert statuses == ["Downloaded deaott: choose it in the DeAOT model menu."] * 2
    assert served.bodies == [(FILE, None)]
    assert "waiting for the download of DeAOTT_PRE_YTB_DAV.pth" in caplog.text
    assert _checkpoints(tmp_path) == [FILE]


def test_a_download_waits_for_another_process(served, tmp_path):
    destination = tmp_path / "checkpoints" / FILE
    destination.parent.mkdir()
    hold = ("import sys\nfrom pathlib import Path\nfrom tracker.download import exclusive\n"
            "with exclusive(Path(sys.argv[1])):\n"
            "    print('held', flush=True)\n    sys.stdin.readline()\n")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(destination)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        outcome = []
        waiter = threading.Thread(target=lambda: outcome.append(fetch("deaott")))
        waiter.start()
        waiter.join(1.5)
        assert waiter.is_alive() and served.connections == 0  # held by the other process
    finally:
        holder.communicate("\n", timeout=120)
    waiter.join(120)
    assert outcome == [destination] and served.bodies == [(FILE, None)]
    assert _checkpoints(tmp_path) == [FILE]


def test_track_downloads_the_named_model_then_tracks(served, tmp_path, small_clip,
                                                     first_mask, capsys):
    out = tmp_path / "out"
    assert cli_main(["track", str(small_clip), "--mask", str(first_mask), "--deaot", "deaott",
                     "--out", str(out)]) == 0
    assert served.bodies == [(FILE, None)]
    assert FILE in capsys.readouterr().err  # the download's progress bar
    record = json.loads((out / "small" / STATUS_FILE).read_text())
    assert record["complete"] and record["frames"] == 12 and record["deaot"] == "deaott"
