"""How :class:`aot.Propagator` tracks: one frozen settings object, passed whole."""

from __future__ import annotations

from dataclasses import dataclass, replace

from aot.edge_refinement import EdgeRefinement
from aot.views import check_scales


@dataclass(frozen=True)
class PropagatorConfig:
    """Settings of one propagator. The defaults are the official evaluation's.

    Attributes:
        long_term_gap: frames between long-term memory additions; ``None``: the variant's.
        max_long_term: bound of the long-term memory in frames; ``None`` is unbounded as in
            the official code. Annotated frames are never evicted.
        precision: ``fp32`` (the official numerics), ``bf16-attention``, ``bf16``, ``fp16``
            or ``auto`` (the fast path for the device); see :mod:`aot.precision`.
        flip: also propagate the left-right mirrored video (at every scale).
        scales: factors of the network input size, each one view of the video; the first
            is the propagator's own. The official input size is 1.0.
        min_object_cells: objects predicted smaller than this many decoder output cells
            (4x4 network-input pixels each, at the first scale) are reported and remembered
            as absent (see :mod:`aot.small_objects`); objects never annotated that large are
            kept. 0 keeps every pixel, as the official code does.
        edge_refinement: guided-filter the reported probabilities with the frame
            (:class:`aot.edge_refinement.EdgeRefinement`); ``None`` reports the network's,
            as the official code does.
        group_size: objects per network pass; ``None``: the model's ``max_objects`` (10).
            More objects are split into groups. A model trained on fewer objects at once
            tells only that many apart in one pass.
    """

    long_term_gap: int | None = None
    max_long_term: int | None = None
    precision: str = "fp32"
    flip: bool = False
    scales: tuple[float, ...] = (1.0,)
    min_object_cells: float = 0.0
    edge_refinement: EdgeRefinement | None = None
    group_size: int | None = None

    def __post_init__(self) -> None:
        if self.long_term_gap is not None and self.long_term_gap < 1:
            raise ValueError(f"long_term_gap must be at least 1, got {self.long_term_gap}")
        if self.max_long_term is not None and self.max_long_term < 1:
            raise ValueError(f"max_long_term must be at least 1, got {self.max_long_term}")
        if not self.min_object_cells >= 0:
            raise ValueError(f"min_object_cells must be 0 or more, got {self.min_object_cells}")
        if self.group_size is not None and self.group_size < 1:
            raise ValueError(f"group_size must be at least 1, got {self.group_size}")
        object.__setattr__(self, "scales", check_scales(self.scales))
        object.__setattr__(self, "min_object_cells", float(self.min_object_cells))

    @property
    def views(self) -> tuple[tuple[float, bool], ...]:
        """(scale, mirrored?) of every view of the video, the propagator's own first."""
        return tuple((scale, mirror) for scale in self.scales
                     for mirror in ((False, True) if self.flip else (False,)))

    def single_view(self, scale: float) -> PropagatorConfig:
        """The settings of one extra view at ``scale``: the same memory, precision and
        groups, one pass, and neither speck dropping nor edge refinement (the fused result
        gets those)."""
        return replace(self, flip=False, scales=(scale,), min_object_cells=0.0,
                       edge_refinement=None)
