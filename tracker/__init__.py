"""From a video and a user's prompts to finished results: SAM + DeAOT tracking sessions,
video I/O, exports, weight downloads and the batch command.

Python API::

    from tracker import TrackingOptions, track_video
    track_video("clip.mp4", "out/", prompts="prompts.json")   # batch, exports included
    track_video("clip.mp4", "out/", mask="first.png",
                tracking=TrackingOptions(propagation="deaot", flip="off"))
    track_video("clip.mp4", "out/", init="cvat_keyframes.xml",   # keyframes from CVAT,
                formats=["overlay", "masks", "davis"])           # results also in CVAT
    track_on_ray(["a.mp4", "b.mp4"], "/shared/out/", prompts="prompts.json",  # on a Ray
                 cluster=ClusterConfig(address="auto"))                       # cluster

    tracker = Tracker(video, "work/", model, segmenter, plan=TrackingOptions().resolve())
"""

from tracker.batch import track_video
from tracker.cluster import ClusterConfig, track_on_ray  # Ray is imported only by a run
from tracker.segmenter import Prompt, PromptError, SegmentResult
from tracker.tracker import Tracker
from tracker.tracking_options import TrackingOptions, TrackingPlan
from tracker.tracking_records import TrackingReport
from tracker.video import VideoError, VideoLimits, open_video

__all__ = ["ClusterConfig", "Prompt", "PromptError", "SegmentResult", "Tracker",
           "TrackingOptions", "TrackingPlan", "TrackingReport", "VideoError", "VideoLimits",
           "open_video", "track_on_ray", "track_video"]
