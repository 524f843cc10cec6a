"""The studio's page: a thin Gradio layer over :mod:`tracker`.

Every button calls a :class:`tracker.studio_session.StudioSession` method. Each browser
session has its own state and folder; when its client goes away (tab closed or reloaded,
connection lost) or its state expires, its running work stops and its folder is deleted.
Models are loaded once and shared; GPU work (prompts and tracking) goes through a queue with
a concurrency limit.
"""

from __future__ import annotations

import uuid
from html import escape
from pathlib import Path

import gradio as gr
import torch

from clicktrack_studio.choices import (
    EDGES,
    EDGES_AUTO,
    FLIP_AUTO,
    FLIPS,
    MODES,
    OFFLINE,
    PRECISIONS,
    PROPAGATIONS,
    SCALES,
    SCALES_AUTO,
    model_choices,
)
from clicktrack_studio.model_downloads import add_download_section
from tracker.formats import DEFAULT_FORMATS, FORMATS
from tracker.models import default_sam_name
from tracker.session_registry import SessionRegistry
from tracker.studio_session import ACCEPTED_EXTENSIONS, Settings, StudioError, StudioSession
from tracker.text_detector import TextPromptConfig
from tracker.tracking_options import TrackingOptions

#: The example clip, shipped inside the package.
EXAMPLE_VIDEO = Path(__file__).resolve().parent / "example" / "bikes.mp4"
SESSION_TTL_S = 3 * 3600
#: What "Start from annotations" takes: the formats that are one file.
IMPORT_EXTENSIONS = [".xml", ".json", ".txt"]


def objects_html(session: StudioSession | None) -> str:
    """The object list: id, colour swatch, origin; the selected object in bold."""
    if session is None or not session.objects():
        return "<p><i>No objects yet: click on the frame.</i></p>"
    rows = []
    for object_id, colour, about in session.objects():
        weight = "bold" if object_id == session.current_object else "normal"
        rows.append(f"<tr style='font-weight:{weight}'><td><span style='display:inline-block;"
                    f"width:14px;height:14px;background:{colour};border:1px solid #333'></span>"
                    f"</td><td>{object_id}</td><td>{escape(about)}</td></tr>")
    return "<table class='objects'><tr><th></th><th>id</th><th>object</th></tr>" \
        + "".join(rows) + "</table>"


def build_app(sessions: SessionRegistry, defaults: Settings, devices: list[str],
              gpu_concurrency: int = 1, offline: bool = False) -> gr.Blocks:
    """The Gradio Blocks of the studio; ``sessions`` makes and finds each client's session
    and closes it when the client goes away; ``offline``: no Download section."""
    chosen = defaults.tracking
    sam_choices, deaot_choices = model_choices()

    def ensure(session: StudioSession | None, request: gr.Request) -> StudioSession:
        """The open session of the client making ``request`` (an error once it has gone)."""
        try:
            return sessions.session_for(request.session_hash or uuid.uuid4().hex, session)
        except StudioError as error:
            raise gr.Error(str(error), print_exception=False) from None

    def view(session: StudioSession, frame: int, status: str):
        object_ids = [o[0] for o in session.objects()]
        return (session, session.render(frame) if session.tracker else None, status,
                objects_html(session),
                gr.Dropdown(choices=object_ids, value=session.current_object))

    def guarded(fn):
        """Turn user errors into a status message instead of an exception page."""
        def run(request: gr.Request, session, frame, *args):
            session = ensure(session, request)
            try:
                status = fn(session, int(frame or 0), *args)
            except (StudioError, ValueError, IndexError, FileNotFoundError) as error:
                status = f"⚠️ {error}"
            if session.tracker is None:
                return session, None, status, objects_html(session), gr.Dropdown(choices=[])
            return view(session, int(frame or 0), status)
        return run

    def load(request: gr.Request, session, upload):
        session = ensure(session, request)
        if upload is None:
            return session, None, "Upload a video or a zip of frames.", objects_html(session), \
                gr.Dropdown(choices=[]), gr.Slider(maximum=1, value=0)
        try:
            session.load(upload, Path(upload).name)
        except (StudioError, ValueError) as error:
            return session, None, f"⚠️ {error}", objects_html(session), \
                gr.Dropdown(choices=[]), gr.Slider(maximum=1, value=0)
        info = session.tracker.video.info
        status = (f"Loaded {escape(session.video_name)}: {info.num_frames} frames, "
                  f"{info.width}x{info.height}, {float(info.fps):.4g} fps. Click an object.")
        return (session, session.render(0), status, objects_html(session),
                gr.Dropdown(choices=[], value=None),
                gr.Slider(maximum=max(info.num_frames - 1, 1), value=0, step=1))

    def load_example(request: gr.Request, session):
        return load(request, session, str(EXAMPLE_VIDEO))

    def on_select(request: gr.Request, session, frame, mode, evt: gr.SelectData):
        x, y = evt.index[0], evt.index[1]
        return guarded(lambda s, f: s.click(f, float(x), float(y), MODES[mode]))(
            request, session, frame)

    def track(request: gr.Request, session, frame, progress=gr.Progress()):
        session = ensure(session, request)
        try:
            report = session.track(lambda p: progress((p.done, p.total), desc=p.describe()))
            image = session.render(int(frame or 0))
        except (StudioError, ValueError, FileNotFoundError) as error:
            return session, None, f"⚠️ {error}", None
        state = "stopped" if report.cancelled else "done"
        status = f"Tracking {state}: {report.frames} frames at {report.fps:.1f} fps."
        if report.discovered:
            status += f" New objects found: {report.discovered}."
        if session.model_note:
            status += f" Note: {session.model_note}."
        overlay = session.exports_folder / "overlay.mp4"
        return session, image, status, str(overlay)

    def stop(session):
        if session is not None:
            session.stop()
        return "Stopping after the current frame…"

    def end_client(request: gr.Request) -> None:
        """The client's page was closed or reloaded, or its connection lost."""
        if request.session_hash:
            sessions.end(request.session_hash)

    def export(request: gr.Request, session, formats):
        session = ensure(session, request)
        try:
            paths = session.export(formats or DEFAULT_FORMATS)
        except StudioError as error:
            return None, f"⚠️ {error}"
        return [str(p) for p in paths.values()], f"Exports ready: {', '.join(paths)}."

    def import_annotations(request: gr.Request, session, frame, upload):
        """Start from another tool's annotations; its format joins those ticked for export."""
        outputs = guarded(lambda s, f: s.import_annotations(upload) if upload
                          else "Upload an annotation file.")(request, session, frame)
        chosen, imported = list(DEFAULT_FORMATS), outputs[0].imported_format
        if imported and imported not in chosen:
            chosen.append(imported)
        return *outputs, gr.CheckboxGroup(value=chosen)

    def settings_changed(request: gr.Request, session, sam, propagation, deaot, sam_gap, memory,
                         device, precision, flip, scales, edges):
        session = ensure(session, request)
        settings = Settings(sam=OFFLINE.get(sam, sam), sam_gap=int(sam_gap or 0),
                            tracking=TrackingOptions(
                                propagation=PROPAGATIONS[propagation], deaot=deaot or None,
                                max_long_term=int(memory) if memory else None, device=device,
                                precision=PRECISIONS[precision], flip=FLIPS[flip],
                                scales=SCALES[scales], edges=EDGES[edges]))
        try:
            session.apply_settings(settings)
        except (ValueError, FileNotFoundError) as error:
            return session, f"⚠️ {error}"
        return session, "Settings applied."

    with gr.Blocks(title="ClickTrack", delete_cache=(3600, SESSION_TTL_S)) as app:
        state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=sessions.discard)
        gr.Markdown("# ClickTrack\nUpload a video, click the objects you care about, track "
                    "them, correct any frame and re-track, then export.")
        with gr.Row():
            with gr.Column(scale=3):
                frame_view = gr.Image(label="Frame (click to prompt)", interactive=False,
                                      type="numpy", elem_id="frame-view", format="png")
                frame_slider = gr.Slider(0, 1, value=0, step=1, label="Frame",
                                         elem_id="frame-slider")
                mode = gr.Radio(list(MODES), value="Positive click", label="Click mode",
                                elem_id="click-mode")
                with gr.Row():
                    new_button = gr.Button("New object", elem_id="new-object")
                    undo_button = gr.Button("Undo", elem_id="undo")
                    everything_button = gr.Button("Segment everything", elem_id="everything")
                with gr.Row():
                    find_text = gr.Textbox(label="Find objects", placeholder="person . bicycle",
                                           elem_id="find-text", scale=3)
                    find_button = gr.Button("Find", elem_id="find", scale=1)
                with gr.Row():
                    object_pick = gr.Dropdown(label="Current object", choices=[],
                                              elem_id="object-pick")
                    remove_button = gr.Button("Remove object", elem_id="remove-object")
                status = gr.Markdown("Load a video to start.", elem_id="status")
            with gr.Column(scale=2):
                upload = gr.File(label="Video or zip of frames",
                                 file_types=list(ACCEPTED_EXTENSIONS), elem_id="upload")
                example_button = gr.Button("Use the example clip", elem_id="example")
                annotations_upload = gr.File(
                    label="Start from annotations (CVAT XML, Label Studio, COCO, YouTube-VIS, "
                          "SA-V, MOT, MOTS, objects.json)", file_types=IMPORT_EXTENSIONS,
                    elem_id="import-annotations")
                object_list = gr.HTML(objects_html(None), elem_id="object-list")
                with gr.Accordion("Settings", open=False):
                    sam_pick = gr.Dropdown(sam_choices, label="SAM model", elem_id="sam-model",
                                           value=default_sam_name(torch.device(chosen.device))
                                           or next(iter(OFFLINE)))
                    propagation = gr.Dropdown(
                        list(PROPAGATIONS), label="Tracker",
                        value=next(k for k, v in PROPAGATIONS.items()
                                   if v == chosen.propagation))
                    deaot_pick = gr.Dropdown(deaot_choices, label="DeAOT model",
                                             elem_id="deaot-model",
                                             value=chosen.deaot if chosen.deaot in deaot_choices
                                             else (deaot_choices[0] if deaot_choices else None),
                                             allow_custom_value=True)
                    sam_gap = gr.Number(defaults.sam_gap, precision=0,
                                        label="Look for new objects every N frames (0: off)")
                    memory = gr.Number(chosen.max_long_term, precision=0,
                                       label="Long-term memory bound (frames, 0: unbounded)")
                    device = gr.Dropdown(devices, value=chosen.device, label="Device")
                    precision = gr.Dropdown(list(PRECISIONS), value="Fast (auto)",
                                            label="Precision")
                    flip = gr.Dropdown(list(FLIPS), value=FLIP_AUTO, label="Mirror augmentation")
                    scales = gr.Dropdown(list(SCALES), value=SCALES_AUTO, label="Multi-scale")
                    edges = gr.Dropdown(list(EDGES), value=EDGES_AUTO, label="Edge refinement")
                    box_threshold = gr.Slider(0, 1, value=TextPromptConfig().box_threshold,
                                              step=0.01, label="Find: box threshold",
                                              elem_id="box-threshold")
                    text_threshold = gr.Slider(0, 1, value=TextPromptConfig().text_threshold,
                                               step=0.01, label="Find: text threshold",
                                               elem_id="text-threshold")
                    if offline:
                        gr.Markdown("Offline: models are not downloaded "
                                    "(`python -m tracker download NAME` fetches one).")
                    else:
                        add_download_section(app, sam_pick, deaot_pick, status, chosen.device)
                with gr.Row():
                    track_button = gr.Button("Track", variant="primary", elem_id="track")
                    stop_button = gr.Button("Stop", elem_id="stop")
                result_video = gr.Video(label="Result", interactive=False, elem_id="result")
                export_formats = gr.CheckboxGroup(list(FORMATS), value=list(DEFAULT_FORMATS),
                                                  label="Export formats (docs/formats.md)",
                                                  elem_id="export-formats")
                export_button = gr.Button("Export", elem_id="export")
                downloads = gr.File(label="Downloads", file_count="multiple", interactive=False,
                                    elem_id="downloads")

        x_api, y_api = gr.Number(visible=False), gr.Number(visible=False)
        mode_api = gr.Textbox(visible=False)
        click_api = gr.Button(visible=False)
        object_api = gr.Number(visible=False, precision=0)
        remove_api = gr.Button(visible=False)

        view_outputs = [state, frame_view, status, object_list, object_pick]
        gpu = {"concurrency_id": "gpu", "concurrency_limit": gpu_concurrency}
        upload.upload(load, [state, upload], view_outputs + [frame_slider], api_name="load_video")
        example_button.click(load_example, [state], view_outputs + [frame_slider],
                             api_name="load_example")
        frame_slider.change(guarded(lambda s, f: f"Frame {f}."), [state, frame_slider],
                            view_outputs, api_name="show_frame", trigger_mode="always_last")
        frame_view.select(on_select, [state, frame_slider, mode], view_outputs,
                          api_visibility="private", **gpu)
        click_api.click(guarded(lambda s, f, x, y, m: s.click(f, float(x), float(y), m)),
                        [state, frame_slider, x_api, y_api, mode_api], view_outputs,
                        api_name="click", **gpu)
        new_button.click(guarded(lambda s, f: f"Object {s.new_object()}: click on it."),
                         [state, frame_slider], view_outputs, api_name="new_object")
        undo_button.click(guarded(lambda s, f: "Undone." if s.undo() else "Nothing to undo."),
                          [state, frame_slider], view_outputs, api_name="undo")
        everything_button.click(
            guarded(lambda s, f: f"Found objects {s.segment_everything(f)}."),
            [state, frame_slider], view_outputs, api_name="segment_everything", **gpu)
        find = guarded(lambda s, f, text, box, token: s.find(f, text or "",
                                                             TextPromptConfig(box, token)))
        find_inputs = [state, frame_slider, find_text, box_threshold, text_threshold]
        find_button.click(find, find_inputs, view_outputs, api_name="find_objects", **gpu)
        find_text.submit(find, find_inputs, view_outputs, api_visibility="private", **gpu)
        object_pick.input(guarded(lambda s, f, o: s.select_object(int(o)) or f"Object {o}."),
                          [state, frame_slider, object_pick], view_outputs,
                          api_visibility="private")
        remove_button.click(guarded(lambda s, f, o: s.remove_object(int(o)) or f"Removed {o}."),
                            [state, frame_slider, object_pick], view_outputs,
                            api_visibility="private")
        remove_api.click(guarded(lambda s, f, o: s.remove_object(int(o)) or f"Removed {o}."),
                         [state, frame_slider, object_api], view_outputs,
                         api_name="remove_object")
        settings_widgets = [sam_pick, propagation, deaot_pick, sam_gap, memory, device,
                            precision, flip, scales, edges]
        for widget in settings_widgets:
            widget.change(settings_changed, [state] + settings_widgets,
                          [state, status], api_visibility="private")
        track_button.click(track, [state, frame_slider],
                           [state, frame_view, status, result_video], api_name="track", **gpu)
        stop_button.click(stop, [state], [status], api_name="stop", concurrency_limit=None)
        export_button.click(export, [state, export_formats], [downloads, status],
                            api_name="export")
        annotations_upload.upload(import_annotations,
                                  [state, frame_slider, annotations_upload],
                                  view_outputs + [export_formats],
                                  api_name="import_annotations", **gpu)
        app.unload(end_client)
    return app
