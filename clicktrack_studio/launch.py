"""Starting the studio: ``clicktrack-studio`` (or ``python app.py`` in a checkout).

    clicktrack-studio [--host 127.0.0.1] [--port 7860] [--share] [--device cpu|cuda]

The session folders (and Gradio's cache of uploads and outputs) lie in one root under the
temporary folder, locked while the studio runs and removed when it ends (Ctrl-C or
SIGTERM); roots left by a killed studio are removed at the next start. A registry model
that ``--deaot`` or ``--sam`` names and that is not downloaded is downloaded before the
studio starts (see :mod:`tracker.on_demand`); the Settings offer the others for download.
"""

from __future__ import annotations

import argparse
import logging
import os

import torch

from clicktrack_studio.app import EXAMPLE_VIDEO, build_app
from clicktrack_studio.choices import PROPAGATIONS
from tracker.cli_options import (
    PROPAGATION_HELP,
    THREADS_HELP,
    add_limit_arguments,
    positive,
    video_limits,
)
from tracker.download import DownloadError
from tracker.interrupts import sigterm_as_ctrl_c
from tracker.models import ModelCache, check_device, set_threads
from tracker.on_demand import obtain
from tracker.registry import UnknownModelError
from tracker.session_registry import SessionRegistry, sessions_root
from tracker.studio_session import Settings, StudioSession
from tracker.tracking_options import TrackingOptions

logger = logging.getLogger("clicktrack")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the studio until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description="ClickTrack web studio")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default local only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="open a public gradio.live link")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--deaot", help="DeAOT model name (downloaded if missing) or "
                        "checkpoint path")
    parser.add_argument("--sam", help="SAM model name (downloaded if missing) or checkpoint "
                        "path")
    parser.add_argument("--propagation", choices=list(PROPAGATIONS.values()), default="auto",
                        help=PROPAGATION_HELP)
    parser.add_argument("--threads", type=positive, help=THREADS_HELP)
    parser.add_argument("--max-upload-mb", type=int, default=500)
    add_limit_arguments(parser)
    parser.add_argument("--gpu-concurrency", type=int, default=1,
                        help="prompts and tracking runs at once")
    parser.add_argument("--offline", action="store_true",
                        help="never download a model (no Download section)")
    args = parser.parse_args(argv)
    limits = video_limits(args)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    device = str(check_device(args.device))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if args.threads:
        set_threads(args.threads)
    try:  # a registry model named here is downloaded now; with no network, the defaults
        sam = obtain(args.sam, "sam", offline=args.offline, device=device)
        deaot = obtain(args.deaot, "deaot", offline=args.offline, device=device)
    except (DownloadError, OSError, UnknownModelError) as error:
        parser.error(str(error))
    defaults = Settings(sam=sam, tracking=TrackingOptions(
        propagation=args.propagation, deaot=deaot, device=device))
    models = ModelCache()
    with sigterm_as_ctrl_c(), sessions_root() as root:
        # Gradio's copies of uploads and outputs go with the root (unless set elsewhere).
        os.environ.setdefault("GRADIO_TEMP_DIR", str(root / "gradio"))
        sessions = SessionRegistry(
            lambda: StudioSession(root, models, defaults, limits))
        try:
            app = build_app(sessions, defaults, devices, args.gpu_concurrency, args.offline)
            app.queue(default_concurrency_limit=8)
            app.launch(server_name=args.host, server_port=args.port, share=args.share,
                       max_file_size=f"{args.max_upload_mb}mb",
                       allowed_paths=[str(EXAMPLE_VIDEO)], footer_links=["api"])
        except KeyboardInterrupt:
            logger.info("interrupted")
        finally:
            sessions.close_all()
    logger.info("studio stopped; removed %s", root)
