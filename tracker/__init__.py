"""From a video and a user's prompts to finished results: SAM + DeAOT tracking sessions,
video I/O, exports, weight downloads and the batch command.

Python API::

    from tracker import Tracker, track_video
    track_video("clip.mp4", "out/", prompts="prompts.json")   # batch, exports included
"""

from tracker.batch import track_video
from tracker.segmenter import Prompt, PromptError, SegmentResult
from tracker.session import Tracker, TrackingReport
from tracker.video import VideoError, VideoLimits, open_video

__all__ = ["Prompt", "PromptError", "SegmentResult", "Tracker", "TrackingReport",
           "VideoError", "VideoLimits", "open_video", "track_video"]
