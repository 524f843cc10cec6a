"""Tracking many videos on a Ray cluster, each exactly once: ``python -m tracker track
--ray`` and :func:`track_on_ray`.

One Ray actor per GPU (or per ``cpus_per_worker`` CPUs) loads the models once and tracks
the videos the driver hands it through the single-machine engine
(:func:`tracker.batch.track_video_steps`), writing ``OUT/<stem>/`` atomically on a path
every node sees. A worker that dies mid-video leaves no partial result, and its video is
tried again on another worker. See docs/cluster.md.

Python API::

    from tracker.cluster import ClusterConfig, track_on_ray
    run = track_on_ray(["a.mp4", "b.mp4"], "/shared/out", prompts="/shared/prompts.json",
                       cluster=ClusterConfig(address="auto", retries=2))
    print(run.table())

Nothing here imports Ray until a run starts, so the single-machine path never loads it.
"""

from tracker.cluster.config import (
    ClusterConfig,
    ClusterRun,
    ClusterSetupError,
    VideoRecord,
    WorkerInfo,
    WorkerProgress,
)
from tracker.cluster.driver import track_on_ray

__all__ = ["ClusterConfig", "ClusterRun", "ClusterSetupError", "VideoRecord", "WorkerInfo",
           "WorkerProgress", "track_on_ray"]
