"""Choosing and loading the models a session uses, each loaded once per process."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import torch

import aot
from aot import DeAOT
from tracker.fingerprint import file_digest
from tracker.geodesic_grabcut import GeodesicGrabCutSegmenter
from tracker.grabcut import GrabCutSegmenter
from tracker.registry import WeightFile, load_registry, resolve_weights
from tracker.sam import SamSegmenter, load_sam
from tracker.sam2_segmenter import (
    Sam2Segmenter,
    is_sam2_arch,
    is_sam2_checkpoint,
    load_sam2,
    sam2_available,
)
from tracker.segmenter import Segmenter
from tracker.text_detector import (
    DETECTOR_PREFERENCE,
    MISSING_DETECTOR,
    TextDetector,
    load_detector,
)

logger = logging.getLogger(__name__)

#: DeAOT checkpoints in order of preference when none is named: the official ones, then
#: ClickTrack's bundled model (trained on synthetic clips only).
DEAOT_PREFERENCE = ("r50_deaotl", "swinb_deaotl", "deaotl", "deaotb", "deaots", "deaott",
                    "clicktrack_deaott")
BUNDLED_NOTE = ("ClickTrack's bundled DeAOT-T, trained on synthetic clips only; for better "
                "tracking download an official model: python -m tracker download r50_deaotl")
#: The click segmenters that need no downloaded weights, by name; the first is used when no
#: SAM checkpoint is present (on the dev frames' click protocol, mIoU@3 0.73 against
#: GrabCut's 0.60, at 0.43 s per click against 2.3 s; see README).
OFFLINE_SEGMENTERS: dict[str, type[Segmenter]] = {
    GeodesicGrabCutSegmenter.name: GeodesicGrabCutSegmenter,
    GrabCutSegmenter.name: GrabCutSegmenter,
}
DEFAULT_OFFLINE_SEGMENTER = GeodesicGrabCutSegmenter.name
#: How objects are carried from frame to frame: DeAOT, ClickTrack's training-free
#: flow-and-colour tracker (:mod:`tracker.flow_color_propagator`), or ``auto``.
PROPAGATIONS = ("auto", "deaot", "flow-color")
FLOW_COLOR_NOTE = ("no official DeAOT checkpoint is present: objects are carried by optical "
                   "flow and colour, without training; for better tracking download an "
                   "official model: python -m tracker download r50_deaotl")
#: Settings of flip test-time augmentation and of edge refinement ("auto": the bundled
#: model only).
AUTO_CHOICES = ("auto", "on", "off")
#: Network input scales the bundled model tracks at with ``scales="auto"``.
BUNDLED_SCALES = (1.0, 1.2)
#: SAM checkpoints in order of preference per device type, among those present (SAM 2.1
#: ones only with the sam2 package installed). The rule (docs/performance.md): on a GPU,
#: by published quality: SAM 2.1 large, base+, small, tiny (SA-V J&F 79.5 ... 76.5; SAM 2
#: is published as more accurate on images than SAM ViT-H), then SAM ViT-H, L, B. On a
#: CPU, the most accurate model whose image encoder takes at most half of SAM ViT-B's
#: time per frame (measured here: base+ 0.45x, small 0.22x, tiny 0.20x; large 1.05x), so a
#: click on a new frame waits seconds, not tens of seconds: SAM 2.1 base+ (the model of
#: SAM 2's "more accurate than SAM on images"), then small, tiny; then the slower ones,
#: SAM 2.1 large before SAM ViT-B, L, H.
SAM_PREFERENCE = {"cuda": ("sam2.1_hiera_large", "sam2.1_hiera_base_plus",
                           "sam2.1_hiera_small", "sam2.1_hiera_tiny",
                           "sam_vit_h", "sam_vit_l", "sam_vit_b"),
                  "cpu": ("sam2.1_hiera_base_plus", "sam2.1_hiera_small", "sam2.1_hiera_tiny",
                          "sam2.1_hiera_large", "sam_vit_b", "sam_vit_l", "sam_vit_h")}


def set_threads(count: int) -> None:
    """Compute with ``count`` CPU threads in PyTorch and OpenCV. On a busy machine fewer
    threads than cores can be much faster: two threads on a loaded 2-core machine ran 15x
    slower than one."""
    if count < 1:
        raise ValueError(f"threads must be at least 1, got {count}")
    torch.set_num_threads(count)
    cv2.setNumThreads(count)


def check_device(device: str | torch.device) -> torch.device:
    """The device, or ``ValueError`` if it is not usable here."""
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"unknown device {device!r}: use cpu or cuda") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for, but no CUDA GPU is available")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device}: use cpu or cuda")
    return device


class ModelCache:
    """Loads each (model file, device) once and hands the same read-only model to every
    session. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str, str], torch.nn.Module] = {}
        self._digests: dict[tuple[str, int, int], str] = {}

    def _get(self, kind: str, path: Path, device: torch.device, loader) -> torch.nn.Module:
        key = (kind, str(path.resolve()), str(device))
        with self._lock:
            if key not in self._models:
                self._models[key] = loader(path, device)
            return self._models[key]

    def weights_digest(self, path: Path) -> str:
        """SHA-256 of a weights file, computed once per version of the file."""
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key not in self._digests:
                self._digests[key] = file_digest(path)
            return self._digests[key]

    def deaot(self, spec: str | None = None, device: str | torch.device = "cpu") -> DeAOT:
        """The DeAOT model for a registry name or checkpoint path (default: the best
        official checkpoint present)."""
        device = check_device(device)
        path, entry = deaot_weights(spec)
        if entry is not None and entry.bundled:
            logger.warning("using %s", BUNDLED_NOTE)
        variant = entry.arch if entry is not None else None
        return self._get("deaot", path, device,
                         lambda p, d: aot.load_model(p, variant=variant, device=d))

    def segmenter(self, spec: str | None = None,
                  device: str | torch.device = "cpu") -> Segmenter:
        """A new segmenter for one session: SAM or SAM 2.1 (registry name or path, a path
        told apart by its contents; default the best present for the device, see
        :data:`SAM_PREFERENCE`), an offline one named in :data:`OFFLINE_SEGMENTERS`, or,
        with no spec and no SAM checkpoint present, :data:`DEFAULT_OFFLINE_SEGMENTER`.

        Raises:
            ImportError: a SAM 2.1 model, and the sam2 package is not installed.
        """
        device = check_device(device)
        if spec in OFFLINE_SEGMENTERS:
            return OFFLINE_SEGMENTERS[spec]()
        weights = sam_weights(spec, device)
        if weights is None:
            logger.warning("no SAM checkpoint present: clicks and boxes use %s (python -m "
                           "tracker download sam_vit_b for SAM)", DEFAULT_OFFLINE_SEGMENTER)
            return OFFLINE_SEGMENTERS[DEFAULT_OFFLINE_SEGMENTER]()
        path, entry = weights
        arch = entry.arch if entry is not None else None
        if is_sam2_arch(arch) or (entry is None and is_sam2_checkpoint(path)):
            return Sam2Segmenter(self._get("sam2", path, device,
                                           lambda p, d: load_sam2(p, arch, d)))
        model = self._get("sam", path, device, lambda p, d: load_sam(p, arch, d))
        return SamSegmenter(model)

    def detector(self, spec: str | None = None,
                 device: str | torch.device = "cpu") -> TextDetector:
        """The text detector (shared by every session) of a registry name or model folder;
        default: the best present for the device.

        Raises:
            FileNotFoundError: no detector is present (the message says what to download).
        """
        device = check_device(device)
        path, _ = detector_weights(spec, device)
        return self._get("detector", path, device, load_detector)


def detector_weights(spec: str | None, device: str | torch.device = "cpu"
                     ) -> tuple[Path, WeightFile | None]:
    """The folder of a text detector's registry name or path (default: the best present
    for ``device``) and its registry entry (``None`` for a path).

    Raises:
        FileNotFoundError: no spec and no detector present, or a named one not downloaded.
    """
    spec = spec or default_detector_name(check_device(device))
    if spec is None:
        raise FileNotFoundError(MISSING_DETECTOR)
    return resolve_weights(spec, "detector")


def deaot_weights(spec: str | None) -> tuple[Path, WeightFile | None]:
    """The DeAOT weights file of a registry name or path (default: the best present) and
    its registry entry (``None`` for a path)."""
    return resolve_weights(spec or default_deaot_name(), "deaot")


def sam_weights(spec: str | None, device: str | torch.device
                ) -> tuple[Path, WeightFile | None] | None:
    """The SAM weights file of a registry name or path and its entry, or ``None`` when
    clicks go to an offline segmenter (one is named, or no spec and no SAM checkpoint is
    present)."""
    if spec in OFFLINE_SEGMENTERS:
        return None
    if spec is None:
        spec = default_sam_name(check_device(device))
        if spec is None:
            return None
    return resolve_weights(spec, "sam")


def default_deaot_name() -> str:
    """The preferred DeAOT checkpoint that is present (official before bundled)."""
    registry = load_registry()
    for name in DEAOT_PREFERENCE:
        if name in registry and registry[name].present:
            return name
    raise FileNotFoundError("no DeAOT checkpoint is present; run: python -m tracker download "
                            "r50_deaotl (or give --deaot PATH)")


def is_bundled(spec: str | None) -> bool:
    """Whether a DeAOT spec resolves to the bundled, synthetic-trained model."""
    name = spec or default_deaot_name()
    entry = load_registry().get(name)
    return entry is not None and entry.bundled


def use_propagation(choice: str, spec: str | None) -> str:
    """How to carry objects, ``"deaot"`` or ``"flow-color"``, for ``choice`` (one of
    :data:`PROPAGATIONS`) and the DeAOT ``spec``. ``auto`` is DeAOT when a model is named or
    an official checkpoint is present, and the flow-and-colour tracker otherwise: on real
    video it beats the bundled DeAOT, trained on synthetic clips only, by a wide margin."""
    if choice not in PROPAGATIONS:
        raise ValueError(f"propagation must be one of {', '.join(PROPAGATIONS)}, "
                         f"got {choice!r}")
    if choice != "auto":
        return choice
    if spec is not None:
        return "deaot"
    try:
        return "flow-color" if is_bundled(None) else "deaot"
    except FileNotFoundError:  # no DeAOT checkpoint at all
        return "flow-color"


def deaot_group_size(spec: str | None) -> int | None:
    """Objects the DeAOT model ``spec`` tracks per network pass (see
    :class:`aot.Propagator`'s ``group_size``): as many as its training clips held at most
    (the bundled model: 3), so every object keeps an identity it was trained on; ``None``
    for an official model, which holds its full group of 10."""
    entry = load_registry().get(spec or default_deaot_name())
    return entry.trained_objects if entry is not None else None


def describe_groups(num_objects: int, group_size: int) -> str | None:
    """What tracking ``num_objects`` in groups of ``group_size`` costs, when it takes more
    than one network pass per frame, else ``None``."""
    passes = -(-num_objects // group_size)
    if passes <= 1:
        return None
    return (f"{num_objects} objects in {passes} passes of at most {group_size} per frame, "
            f"about {passes}x the time of one")


def use_flip(choice: str, spec: str | None) -> bool:
    """Whether DeAOT should track with flip test-time augmentation (see
    :class:`aot.Propagator`): ``"on"``, ``"off"``, or ``"auto"``: on for the bundled model,
    whose published figures are measured that way, off for official checkpoints, which
    track well in one pass at half the cost."""
    return _on_for_bundled("flip", choice, spec)


def use_edges(choice: str, spec: str | None) -> bool:
    """Whether DeAOT's reported masks should be snapped to the frame's edges (see
    :mod:`aot.edge_refinement`): ``"on"``, ``"off"``, or ``"auto"``: on for the bundled
    model, whose published figures are measured that way, off for official checkpoints,
    for which it has not been measured."""
    return _on_for_bundled("edges", choice, spec)


def _on_for_bundled(setting: str, choice: str, spec: str | None) -> bool:
    """``choice`` (auto, on or off) of ``setting`` resolved for the DeAOT ``spec``."""
    if choice not in AUTO_CHOICES:
        raise ValueError(f"{setting} must be one of {', '.join(AUTO_CHOICES)}, got {choice!r}")
    return choice == "on" or (choice == "auto" and is_bundled(spec))


def use_scales(choice: str, spec: str | None) -> tuple[float, ...]:
    """The network input scales DeAOT should track at and average (multi-scale test-time
    augmentation, see :class:`aot.Propagator`): comma-separated factors such as
    ``"1.0,1.2"``, or ``"auto"``: :data:`BUNDLED_SCALES` for the bundled model, whose
    published figures are measured that way, and one pass at the official size for official
    checkpoints."""
    if choice == "auto":
        return BUNDLED_SCALES if is_bundled(spec) else (1.0,)
    try:
        return aot.PropagatorConfig(scales=[float(part) for part in choice.split(",")]).scales
    except ValueError:
        raise ValueError(f"scales must be 'auto' or factors in (0, 4] such as 1.0,1.2, "
                         f"got {choice!r}") from None


def describe_augmentation(flip: bool, scales: tuple[float, ...]) -> str:
    """``"flip on, scales 1.0,1.2"``: test-time augmentation as logs and reports name it."""
    return f"flip {'on' if flip else 'off'}, scales {','.join(map(str, scales))}"


def usable(entry: WeightFile) -> bool:
    """Whether a registry model is present and its library installed (SAM 2.1: sam2)."""
    return entry.present and (not is_sam2_arch(entry.arch) or sam2_available())


def default_sam_name(device: torch.device) -> str | None:
    """The preferred SAM checkpoint present (and usable) for ``device``, or ``None``."""
    registry = load_registry()
    for name in SAM_PREFERENCE["cuda" if device.type == "cuda" else "cpu"]:
        if name in registry and usable(registry[name]):
            return name
    return None


def default_detector_name(device: torch.device) -> str | None:
    """The preferred text detector present for ``device`` (:data:`DETECTOR_PREFERENCE`),
    or ``None``."""
    registry = load_registry()
    for name in DETECTOR_PREFERENCE["cuda" if device.type == "cuda" else "cpu"]:
        if name in registry and registry[name].present:
            return name
    return None
