"""Models on demand: registry models downloaded the first time they are asked for.

The one policy of the batch command and the studio. :func:`obtain` makes a model spec ready
to load: a registry model that is not downloaded yet is downloaded first (resumable, checked
and placed atomically, once however many threads and processes ask: see
:mod:`tracker.download`), unless downloads are off. When the download server cannot be
reached, one warning says so and the defaults stand in, as when no model is named: the best
DeAOT model present (at worst the bundled one) and the best SAM model present (at worst the
offline click segmenter); nothing stands in for the text detector, so text prompts stop
with a message that says so. The studio's Download button goes through :func:`fetch` and
reports a missing network with the same line (:func:`no_network_message`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from tracker.download import NoNetworkError, ProgressCallback, download
from tracker.models import DEFAULT_OFFLINE_SEGMENTER, default_deaot_name, default_sam_name
from tracker.registry import UnknownModelError, WeightFile, find_entry, load_registry
from tracker.text_detector import MISSING_DETECTOR

logger = logging.getLogger(__name__)

#: The kinds of model that can be downloaded.
KINDS = ("sam", "deaot", "detector")


def missing_models() -> list[WeightFile]:
    """The registry's SAM, DeAOT and detector models that are not downloaded, in registry
    order."""
    return [e for e in load_registry().values()
            if e.kind in KINDS and not e.bundled and not e.present]


def fetch(name: str, on_progress: ProgressCallback | None = None,
          show_progress: bool = False) -> Path:
    """Download the registry model ``name`` into the checkpoint folder (at once if it is
    there already); the file.

    Args:
        name: registry name.
        on_progress: called with (bytes so far, bytes in all or ``None``) as it goes.
        show_progress: also draw a progress bar on stderr.

    Raises:
        UnknownModelError: no such registry model.
        NoNetworkError: the download server could not be reached.
        DownloadError: the download failed or did not verify.
    """
    entry = load_registry().get(name)
    if entry is None:
        raise UnknownModelError(f"unknown model {name!r}")
    if entry.bundled:
        return entry.path
    return download(entry, show_progress=show_progress, on_progress=on_progress)


def _fallback(kind: str, device: str) -> str:
    """What stands in for a model of ``kind`` that is not named."""
    if kind == "deaot":
        try:
            name = default_deaot_name()
        except FileNotFoundError:
            return "the flow-and-colour tracker"
        return "ClickTrack's bundled DeAOT model" if load_registry()[name].bundled else name
    sam = default_sam_name(torch.device(device))
    return sam or f"the offline click segmenter ({DEFAULT_OFFLINE_SEGMENTER})"


def no_network_message(entry: WeightFile, error: NoNetworkError, device: str = "cpu") -> str:
    """The one line that says the network is missing and what is used instead."""
    if entry.kind == "detector":
        return (f"no network, so {entry.name} cannot be downloaded ({error}); "
                f"{MISSING_DETECTOR}")
    return (f"no network, so {entry.name} cannot be downloaded ({error}); using "
            f"{_fallback(entry.kind, device)} instead, as when no model is named")


def obtain(spec: str | None, kind: str, *, offline: bool = False, fall_back: bool = True,
           device: str = "cpu", show_progress: bool = True) -> str | None:
    """``spec`` made ready to load: a registry model that is not downloaded is downloaded
    first, with a progress bar on stderr (``show_progress``). Paths, offline segmenters'
    names, unknown names and ``None`` are returned as they are.

    Args:
        spec: a registry name, a checkpoint path, an offline segmenter's name or ``None``.
        kind: ``"sam"``, ``"deaot"`` or ``"detector"``.
        offline: never download.
        fall_back: with no network, warn and return ``None`` rather than raise (never for
            a detector: nothing can stand in for it).
        device: the device the models will run on (it decides the default SAM model).
        show_progress: draw a progress bar on stderr.

    Returns:
        ``spec``, or ``None`` after a warning when the network cannot be reached (and
        ``fall_back``): the defaults stand in, as when no model is named.

    Raises:
        FileNotFoundError: ``offline``, and the model is not downloaded (the message says
            what to run).
        NoNetworkError: no network, and not ``fall_back``.
        DownloadError: the download failed or did not verify.
        UnknownModelError: the name of a model of another kind.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    entry = find_entry(spec, kind) if spec else None
    if entry is None or entry.present:
        return spec
    if offline:
        raise FileNotFoundError(f"{entry.name} is not downloaded, and downloads are off "
                                f"(offline); run: python -m tracker download {entry.name}")
    logger.info("%s is not downloaded yet: downloading it from %s", entry.name, entry.url)
    try:
        download(entry, show_progress=show_progress)
    except NoNetworkError as error:
        if kind == "detector":  # nothing stands in for it
            raise NoNetworkError(no_network_message(entry, error, device)) from error
        if not fall_back:
            raise NoNetworkError(f"no network, so {entry.name} cannot be downloaded "
                                 f"({error})") from error
        logger.warning("%s", no_network_message(entry, error, device))
        return None
    return spec
