"""Training DeAOT (``python -m aot.train``): tooling apart from the runtime, which never
imports it. Its clip generator is public for the synthetic benchmark."""

from aot.train.synthetic_clips import SyntheticClips

__all__ = ["SyntheticClips"]
