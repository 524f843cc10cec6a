"""What the studio's menus offer: label -> value of each setting, the models present and
those that can be downloaded."""

from __future__ import annotations

from tracker.models import usable
from tracker.on_demand import missing_models
from tracker.registry import load_registry

MODES = {"Positive click": "positive", "Negative click": "negative", "Box (2 clicks)": "box"}
#: What the "Models not downloaded" list calls each kind of model.
KIND_LABELS = {"sam": "SAM", "deaot": "DeAOT", "detector": "text detector"}
#: The offline click segmenters (no SAM weights), the default first.
OFFLINE = {"Geodesic GrabCut (no SAM weights)": "geodesic_grabcut",
           "GrabCut (no SAM weights)": "grabcut"}
PRECISIONS = {"Fast (auto)": "auto", "Exact (fp32, official)": "fp32"}
FLIP_AUTO = "Auto (on for the bundled model)"
FLIPS = {FLIP_AUTO: "auto", "On (2x compute, steadier masks)": "on", "Off": "off"}
SCALES_AUTO = "Auto (1.0 + 1.2 for the bundled model)"
SCALES = {SCALES_AUTO: "auto", "1.0 + 1.2 (2.4x compute)": "1.0,1.2", "Off (one scale)": "1.0"}
PROPAGATION_AUTO = "Auto (DeAOT with an official model, else flow + colour)"
PROPAGATIONS = {PROPAGATION_AUTO: "auto", "DeAOT": "deaot",
                "Flow + colour (no training, no download)": "flow-color"}
EDGES_AUTO = "Auto (on for the bundled model)"
EDGES = {EDGES_AUTO: "auto", "On (masks snap to image edges)": "on", "Off": "off"}



def model_choices() -> tuple[list[str], list[str]]:
    """(SAM choices, DeAOT choices): the models present now (SAM 2.1 ones with the sam2
    package installed), and the offline segmenters."""
    registry = load_registry()
    sam = [n for n, e in registry.items() if e.kind == "sam" and usable(e)] + list(OFFLINE)
    deaot = [n for n, e in registry.items() if e.kind == "deaot" and e.present]
    return sam, deaot


def missing_choices() -> list[tuple[str, str]]:
    """(label, registry name) of each SAM, DeAOT and text detector model not downloaded
    yet, e.g. ``("r50_deaotl (DeAOT, about 80 MB)", "r50_deaotl")``."""
    choices = []
    for entry in missing_models():
        megabytes = entry.size / 2 ** 20 if entry.size else entry.approx_mb
        size = f", about {megabytes:.0f} MB" if megabytes else ""
        choices.append((f"{entry.name} ({KIND_LABELS[entry.kind]}{size})", entry.name))
    return choices
