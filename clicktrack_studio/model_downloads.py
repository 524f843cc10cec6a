"""The Settings' Download section: the SAM, DeAOT and text detector models not downloaded
yet, fetched with a progress bar and offered in the SAM / DeAOT menus (a detector: to
"Find objects") as soon as they are in place.

Downloads go through :func:`tracker.on_demand.fetch`: resumable, checked against the
registry (SHA-256, or key by key) and placed atomically; sessions asking for one model at
once share its one download. Every page load offers the models present at that moment, so
a model another session downloaded shows up too.
"""

from __future__ import annotations

import logging

import gradio as gr

from clicktrack_studio.choices import missing_choices, model_choices
from tracker.download import DownloadError, NoNetworkError, ProgressCallback
from tracker.on_demand import fetch, no_network_message
from tracker.registry import load_registry

logger = logging.getLogger(__name__)

_MB = 2 ** 20


def download_model(name: str, on_progress: ProgressCallback | None = None,
                   device: str = "cpu") -> str:
    """Download the registry model ``name`` for the studio; the status line to show (a
    missing network in one line, naming what stays in use)."""
    entry = load_registry().get(name)
    if entry is None:
        return f"⚠️ unknown model {name!r}"
    try:
        fetch(name, on_progress)
    except NoNetworkError as error:
        message = no_network_message(entry, error, device)
        logger.warning("%s", message)
        return f"⚠️ {message}"
    except (DownloadError, OSError) as error:
        logger.error("%s", error)
        return f"⚠️ {error}"
    if entry.kind == "detector":
        return f"Downloaded {name}: Find objects uses it."
    menu = "SAM" if entry.kind == "sam" else "DeAOT"
    return f"Downloaded {name}: choose it in the {menu} model menu."


def _menus() -> tuple[gr.Dropdown, gr.Dropdown, gr.Dropdown]:
    """Updates of the SAM menu, the DeAOT menu and the list of missing models (choices
    only: the settings chosen stay)."""
    sam, deaot = model_choices()
    missing = missing_choices()
    return (gr.Dropdown(choices=sam), gr.Dropdown(choices=deaot),
            gr.Dropdown(choices=missing, value=missing[0][1] if missing else None))


def add_download_section(app: gr.Blocks, sam_pick: gr.Dropdown, deaot_pick: gr.Dropdown,
                         status: gr.Markdown, device: str) -> None:
    """Place the list of missing models and its Download button (inside the Settings) and
    wire them: a finished download updates the SAM and DeAOT menus in the same event."""
    missing = missing_choices()
    missing_pick = gr.Dropdown(missing, value=missing[0][1] if missing else None,
                               label="Models not downloaded", elem_id="missing-models")
    download_button = gr.Button("Download", elem_id="download-model")

    def download(name: str | None, progress=gr.Progress()):
        if not name:
            menus = _menus()
            return (*menus, "Choose a model to download." if menus[2].choices
                    else "Every model is downloaded.")

        def report(done: int, total: int | None) -> None:
            progress((done // _MB, total // _MB if total else None),
                     desc=f"Downloading {name}", unit="MB")

        progress(0.0, desc=f"Downloading {name}")
        message = download_model(name, report, device)
        return (*_menus(), message)  # the menus as they are after the download

    download_button.click(download, [missing_pick], [sam_pick, deaot_pick, missing_pick, status],
                          api_name="download_model", show_progress_on=missing_pick)
    app.load(_menus, None, [sam_pick, deaot_pick, missing_pick], api_visibility="private")
