"""How ClickTrack carries objects through a video: what the user chose, and what that means.

:class:`TrackingOptions` holds the choices as the batch command's flags, the studio's
settings and the Python API take them, ``auto`` included. :meth:`TrackingOptions.resolve`
turns them, once, into a :class:`TrackingPlan`: the engine that runs (DeAOT or the
training-free flow-and-colour tracker) and, for DeAOT, the whole
:class:`aot.PropagatorConfig` for the model chosen. Everything downstream (the
:class:`~tracker.tracker.Tracker`, status files, fingerprints, logs) reads the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aot import EdgeRefinement, PropagatorConfig, resolve_precision
from tracker.flow_color_propagator import NAME as FLOW_COLOR
from tracker.flow_color_propagator import FlowColorConfig
from tracker.models import (
    check_device,
    deaot_group_size,
    describe_augmentation,
    use_edges,
    use_flip,
    use_propagation,
    use_scales,
)

#: Default bound of the long-term memory (frames); annotated frames are always kept.
DEFAULT_MAX_LONG_TERM = 10
#: Objects predicted smaller than this many DeAOT output cells are dropped (aot.small_objects).
DEFAULT_MIN_OBJECT_CELLS = 2.0
#: The engine names a plan may hold.
DEAOT = "deaot"


@dataclass(frozen=True)
class TrackingPlan:
    """How a tracking run carries objects, every ``auto`` of the user's choices resolved.
    (The default plan's DeAOT precision is ``auto``, which :class:`aot.Propagator` resolves
    for its model's device; :meth:`TrackingOptions.resolve` names the precision.)

    Attributes:
        propagation: ``"deaot"`` or ``"flow-color"``.
        propagator: DeAOT's settings (used only when ``propagation`` is ``"deaot"``).
        flow_color: the flow-and-colour tracker's settings (used only for ``"flow-color"``).
    """

    propagation: str = DEAOT
    propagator: PropagatorConfig = PropagatorConfig(
        max_long_term=DEFAULT_MAX_LONG_TERM, precision="auto",
        min_object_cells=DEFAULT_MIN_OBJECT_CELLS)
    flow_color: FlowColorConfig = FlowColorConfig()

    def __post_init__(self) -> None:
        if self.propagation not in (DEAOT, FLOW_COLOR):
            raise ValueError(f"propagation must be {DEAOT} or {FLOW_COLOR}, "
                             f"got {self.propagation!r}")

    @property
    def uses_deaot(self) -> bool:
        return self.propagation == DEAOT

    def record(self) -> dict[str, Any]:
        """The settings that shape the result, as status files and fingerprints keep them:
        the engine, and DeAOT's settings only when DeAOT runs."""
        if not self.uses_deaot:
            return {"propagation": self.propagation}
        config = self.propagator
        return {"propagation": self.propagation, "max_long_term": config.max_long_term,
                "long_term_gap": config.long_term_gap, "precision": config.precision,
                "flip": config.flip, "scales": list(config.scales),
                "min_object_cells": config.min_object_cells,
                "edge_refinement": config.edge_refinement is not None,
                "group_size": config.group_size}

    def describe_views(self) -> str | None:
        """What DeAOT's test-time augmentation costs, when it runs more than one pass."""
        config = self.propagator
        if not self.uses_deaot or len(config.views) == 1:
            return None
        passes = (1 + config.flip) * sum(scale ** 2 for scale in config.scales)
        return (f"DeAOT tracks with test-time augmentation "
                f"({describe_augmentation(config.flip, config.scales)}), {passes:.1f}x the "
                "compute of one pass (--flip off --scales 1.0 for one pass)")


@dataclass(frozen=True)
class TrackingOptions:
    """How to track, as the user chose it; ``auto`` picks per model (see
    :func:`tracker.models.use_propagation` and its siblings).

    Attributes:
        propagation: ``auto``, ``deaot`` or ``flow-color``.
        deaot: DeAOT registry name or checkpoint path (default: the best present).
        device: ``cpu`` or ``cuda``.
        precision: DeAOT's precision: ``auto`` (the device's fast path) or one of
            :mod:`aot.precision`'s.
        flip: flip test-time augmentation: ``on``, ``off`` or ``auto`` (on for the bundled
            model only).
        scales: ``auto`` (1.0 and 1.2 for the bundled model only) or factors such as
            ``"1.0,1.2"``.
        edges: snap masks to the frame's edges: ``on``, ``off`` or ``auto`` (on for the
            bundled model only).
        min_object_cells: objects predicted smaller than this many DeAOT output cells are
            dropped (0: keep every pixel).
        max_long_term: bound of DeAOT's long-term memory in frames (``None``: unbounded).
        long_term_gap: frames between long-term memory additions (``None``: the variant's).
    """

    propagation: str = "auto"
    deaot: str | None = None
    device: str = "cpu"
    precision: str = "auto"
    flip: str = "auto"
    scales: str = "auto"
    edges: str = "auto"
    min_object_cells: float = DEFAULT_MIN_OBJECT_CELLS
    max_long_term: int | None = DEFAULT_MAX_LONG_TERM
    long_term_gap: int | None = None

    def resolve(self) -> TrackingPlan:
        """The plan these choices make for the model they name (or the best present).

        Raises:
            ValueError: a choice that is not one of its kind's.
        """
        engine = use_propagation(self.propagation, self.deaot)
        if engine != DEAOT:
            return TrackingPlan(engine)
        return TrackingPlan(DEAOT, PropagatorConfig(
            long_term_gap=self.long_term_gap, max_long_term=self.max_long_term,
            precision=resolve_precision(self.precision, check_device(self.device)).name,
            flip=use_flip(self.flip, self.deaot), scales=use_scales(self.scales, self.deaot),
            min_object_cells=self.min_object_cells,
            edge_refinement=EdgeRefinement() if use_edges(self.edges, self.deaot) else None,
            group_size=deaot_group_size(self.deaot)))
