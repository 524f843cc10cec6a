"""``track --ray``: a real local Ray cluster of 2 workers (not a mock) tracks real videos
exactly as one machine does, survives a worker killed mid-video, skips on a rerun, fails a
corrupt video alone and stops cleanly on Ctrl-C; the single-machine path never imports Ray.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from cluster_clips import ENDLESS_CLIP, LONG_CLIP, TEST_CLIPS, make_clips, make_long_clip
from conftest import ROOT

from tracker.batch import STATUS_FILE, track_video
from tracker.cli import main as cli_main
from tracker.masks import read_label_png

needs_ray = pytest.mark.skipif(find_spec("ray") is None, reason="Ray is not installed: "
                               "pip install -r requirements-cluster.txt for the cluster tests")
#: Keeps a test cluster small and on this machine: loopback only, no usage reports.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
           "OMP_NUM_THREADS": "1"}
TIMEOUT = 300
LONG_FRAMES = LONG_CLIP[2]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _masks(folder: Path) -> list[np.ndarray]:
    return [read_label_png(p) for p in sorted((folder / "masks").glob("*.png"))]


def _leftovers(out: Path) -> list[str]:
    """Half-written or retired results under ``out``."""
    return sorted(p.name for p in out.iterdir() if p.name.endswith((".partial", ".old")))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """5 pieces of the demo clip at 4 frame sizes, a longer clip, their prompts."""
    folder = tmp_path_factory.mktemp("clips")
    make_clips(folder, TEST_CLIPS)
    make_long_clip(folder)
    return folder


def _short(clips: Path) -> list[Path]:
    return [clips / f"{name}.mp4" for name in TEST_CLIPS]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, clips) -> Path:
    """Each short clip tracked alone, in this process, one thread, default settings."""
    import cv2
    import torch

    out = tmp_path_factory.mktemp("alone")
    threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        for clip in _short(clips):
            track_video(clip, out, prompts=clips / "prompts.json")
    finally:
        torch.set_num_threads(threads[0])
        cv2.setNumThreads(threads[1])
    return out


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs (2 workers of 1 CPU), joined by this process and by
    the CLI runs through its address; shut down at the end."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in RAY_ENV.items():  # before Ray reads them, at its import
            patch.setenv(name, value)
        import ray

        sigterm = signal.getsignal(signal.SIGTERM)
        context = ray.init(num_cpus=2, include_dashboard=False,
                           object_store_memory=100 * 2 ** 20, log_to_driver=False)
        signal.signal(signal.SIGTERM, sigterm)  # ray.init's would exit the test run at once
        try:
            yield context.address_info["address"]
        finally:
            ray.shutdown()


def _cli(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``python -m tracker track ARGS`` in a subprocess."""
    env = {**os.environ, **RAY_ENV}
    return subprocess.run([sys.executable, "-m", "tracker", "track", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory, clips, cluster):
    """The short clips tracked through ``--ray ADDRESS`` on the 2 workers."""
    out = tmp_path_factory.mktemp("ray")
    run = _cli(*map(str, _short(clips)), "--out", str(out), "--prompts",
               str(clips / "prompts.json"), "--ray", cluster, "--threads", "1")
    return out, run


@needs_ray
def test_masks_identical_to_tracking_each_alone(cluster_run, reference):
    out, run = cluster_run
    assert run.returncode == 0, run.stderr[-3000:]
    for name, (_, frames, (width, height), _) in TEST_CLIPS.items():
        status = json.loads((out / name / STATUS_FILE).read_text())
        assert status["complete"] and status["frames"] == frames
        ours, alone = _masks(out / name), _masks(reference / name)
        assert len(ours) == len(alone) == frames and ours[0].shape == (height, width)
        assert all(np.array_equal(a, b) for a, b in zip(ours, alone)), name
    assert not _leftovers(out)
    # the summary table: one row per video, each done by one of the 2 workers
    rows = [line.split() for line in run.stdout.splitlines()[1:] if line.strip()]
    assert sorted(row[0] for row in rows) == [f"{name}.mp4" for name in TEST_CLIPS]
    assert {row[1] for row in rows} == {"done"}
    assert {row[2] for row in rows} <= {"w1", "w2"}
    assert "frames/s over the whole run" in run.stderr and "/60" in run.stderr  # one bar


@needs_ray
def test_rerun_skips_everything(cluster_run, clips, cluster, caplog):
    """The rerun runs the CLI in this process, which is connected to the cluster already."""
    caplog.set_level("INFO")
    out, first = cluster_run
    assert first.returncode == 0
    before = {name: _digest(out / name) for name in TEST_CLIPS}
    assert cli_main(["track", *map(str, _short(clips)), "--out", str(out), "--prompts",
                     str(clips / "prompts.json"), "--ray", cluster]) == 0
    assert caplog.text.count("(same input, annotation, models and settings), skipped") == 5
    assert "5 skipped" in caplog.text
    assert {name: _digest(out / name) for name in TEST_CLIPS} == before


@needs_ray
def test_corrupt_video_fails_alone_on_a_local_runtime(cluster_run, clips, tmp_path):
    """``--ray local`` starts its own runtime; a corrupt video fails with the single-machine
    command's message and exit code, and the good one beside it is kept (skipped)."""
    out, first = cluster_run
    assert first.returncode == 0
    before = _digest(out / "a")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(5000))
    run = _cli(str(corrupt), str(clips / "a.mp4"), "--out", str(out), "--prompts",
               str(clips / "prompts.json"), "--ray", "local", "--workers", "2")
    assert run.returncode == 1, run.stderr[-3000:]
    assert f"{corrupt}: not a readable video (Invalid data found" in run.stderr
    assert "a.mp4: up to date" in run.stderr and "1 of 2 videos failed" in run.stderr
    assert not (out / "corrupt").exists() and _digest(out / "a") == before
    assert "Started a local Ray instance" in run.stderr


@needs_ray
def test_no_worker_able_to_start_is_a_setup_error(clips, cluster, tmp_path, caplog):
    """Each worker checks its own node: CUDA asked for on a node without it exits 2, as on
    one machine, with the worker's message."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert cli_main(["track", str(clips / "a.mp4"), "--out", str(tmp_path), "--prompts",
                     str(clips / "prompts.json"), "--ray", cluster, "--device", "cuda",
                     "--gpus-per-worker", "0", "--workers", "1"]) == 2
    assert "no worker could start: w1 (pid" in caplog.text
    assert "no CUDA GPU is available" in caplog.text and not (tmp_path / "a").exists()


@needs_ray
def test_a_killed_worker_s_video_is_retried_on_another(tmp_path, clips, cluster, reference,
                                                       caplog):
    """SIGKILL the worker tracking the long clip once it has tracked a few frames: the clip
    is tracked again, whole, on the other worker; every video is done exactly once."""
    from tracker.cluster import ClusterConfig, track_on_ray

    caplog.set_level("INFO")
    killed: dict[str, object] = {}

    def kill_mid_video(report) -> None:
        if not killed and report.video.name == "long.mp4" and 3 <= report.done < report.total:
            killed.update(worker=report.worker, at=time.time())
            os.kill(report.worker.pid, signal.SIGKILL)

    inputs = [clips / "long.mp4", clips / "a.mp4"]
    run = track_on_ray(inputs, tmp_path / "out", prompts=clips / "prompts.json",
                       cluster=ClusterConfig(workers=2, retries=2, threads=1,
                                             progress_seconds=0.1),  # kill within frames
                       on_progress=kill_mid_video)
    assert killed, "the long clip never reported progress"
    victim = killed["worker"]
    assert run.failures == 0, run.table()
    records = {r.input.name: r for r in run.records}
    assert len(run.records) == len(records) == 2
    assert all(r.status == "done" and r.frames > 0 for r in run.records), run.table()
    long = records["long.mp4"]
    assert long.attempts == 2 and long.worker.worker != victim.worker
    assert long.message.startswith(f"retried after: {victim} lost: Actor")  # Died, Unavailable
    assert f"long.mp4: its worker {victim} died mid-video; retrying on another worker " \
           "(retry 1 of 2)" in caplog.text
    out = tmp_path / "out"
    assert not _leftovers(out)
    status = json.loads((out / "long" / STATUS_FILE).read_text())
    assert status["complete"] and status["frames"] == LONG_FRAMES
    written = [p for p in (out / "long").rglob("*") if p.is_file()]
    assert len([p for p in written if p.parent.name == "masks"]) == LONG_FRAMES
    # nothing of the killed attempt survived: every file was written after the kill
    assert min(p.stat().st_mtime for p in written) >= killed["at"] - 0.5
    assert all(np.array_equal(x, y) for x, y in zip(_masks(out / "a"), _masks(reference / "a")))


@needs_ray
def test_a_video_whose_retries_are_spent_fails_with_the_reason(tmp_path, clips, cluster,
                                                               caplog):
    from tracker.cluster import ClusterConfig, track_on_ray

    killed = []

    def kill_mid_video(report) -> None:
        if not killed and 3 <= report.done < report.total:
            killed.append(report.worker)
            os.kill(report.worker.pid, signal.SIGKILL)

    run = track_on_ray([clips / "long.mp4"], tmp_path, prompts=clips / "prompts.json",
                       cluster=ClusterConfig(workers=1, retries=0, threads=1,
                                             progress_seconds=0.1),
                       on_progress=kill_mid_video, progress_bar=False)
    (record,) = run.records
    assert killed and run.failures == 1 and record.status == "failed"
    assert record.message.startswith(f"failed after 1 try, its worker dying under it each "
                                     f"time; the last: {killed[0]} lost: Actor")
    assert f"long.mp4: {record.message}" in caplog.text
    assert not (tmp_path / "long").exists()


@needs_ray
def test_ctrl_c_stops_the_cluster_work_cleanly(tmp_path, clips, cluster):
    """SIGINT to the driver while a long clip is being tracked: exit 130, the finished
    result is intact, nothing half-written is left, and the workers are gone."""
    import ray

    endless = make_long_clip(tmp_path, ENDLESS_CLIP)
    out = tmp_path / "out"
    env = {**os.environ, **RAY_ENV}
    driver = subprocess.Popen(
        [sys.executable, "-m", "tracker", "track", str(clips / "a.mp4"),
         str(endless), "--out", str(out), "--prompts", str(clips / "prompts.json"),
         "--ray", cluster, "--workers", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        partial = out / ".endless.partial" / "masks"
        while not ((out / "a" / STATUS_FILE).exists() and partial.is_dir()
                   and len(list(partial.glob("*.png"))) >= 5):
            assert driver.poll() is None, driver.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the endless clip never got going"
            time.sleep(0.1)
        driver.send_signal(signal.SIGINT)
        _, stderr = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, stderr[-3000:]
    assert "stopping the cluster's work (videos in progress: " in stderr  # 1, or 2 when
    # the driver had not yet taken a.mp4's result, which is on disk and stays valid
    assert "interrupted: finished results are intact" in stderr
    assert json.loads((out / "a" / STATUS_FILE).read_text())["complete"]
    assert not (out / "endless").exists()
    deadline = time.monotonic() + 60
    while _leftovers(out) or ray.available_resources().get("CPU", 0) < 2:
        assert time.monotonic() < deadline, (_leftovers(out), ray.available_resources())
        time.sleep(0.2)


def test_the_single_machine_path_never_imports_ray(clips, tmp_path):
    code = ("import sys; from tracker.cli import main; "
            f"code = main(['track', {str(clips / 'b.mp4')!r}, '--out', {str(tmp_path)!r}, "
            f"'--prompts', {str(clips / 'prompts.json')!r}, '--threads', '1']); "
            "print('ray' in sys.modules, any(m.startswith('ray.') for m in sys.modules), code)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=TIMEOUT, check=False)
    assert run.stdout.split() == ["False", "False", "0"], run.stderr[-3000:]
    assert (tmp_path / "b" / STATUS_FILE).exists()


def test_without_ray_installed_ray_says_how_to_install_it(clips, tmp_path, monkeypatch,
                                                          caplog):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    assert cli_main(["track", str(clips / "a.mp4"), "--out", str(tmp_path), "--prompts",
                     str(clips / "prompts.json"), "--ray", "local"]) == 2
    assert "Ray is not installed" in caplog.text and "clicktrack[cluster]" in caplog.text
    assert not (tmp_path / "a").exists()


def test_an_input_taken_for_the_address_is_refused(clips, tmp_path, caplog):
    assert cli_main(["track", "--prompts", str(clips / "prompts.json"), "--out",
                     str(tmp_path), "--ray", str(clips / "a.mp4"), str(clips / "b.mp4")]) == 2
    assert "as the cluster's address" in caplog.text
