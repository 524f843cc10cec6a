"""DeAOT video object segmentation: network, official checkpoint loading and propagation.

Public API::

    model = aot.load_model(path, variant=None, device="cpu")
    config = aot.PropagatorConfig(long_term_gap=None, max_long_term=None, precision="fp32",
                                  flip=False, scales=(1.0,), min_object_cells=0.0,
                                  edge_refinement=None, group_size=None)
    prop = aot.Propagator(model, config)   # or aot.Propagator(model, flip=True, ...)
    prop.add_reference(frame, mask)
    out = prop.step(frame)          # out.labels, out.probs
    outs = aot.step_together([prop_a, prop_b], [frame_a, frame_b])   # several videos at once
    aot.VARIANTS                    # name -> DeAOTConfig
"""

from aot.checkpoint import CheckpointError, infer_variant, load_model
from aot.config import VARIANTS, DeAOTConfig
from aot.edge_refinement import EdgeRefinement
from aot.model.deaot import DeAOT
from aot.propagator import Propagator, StepOutput
from aot.propagator_config import PropagatorConfig
from aot.stepping import step_together

__all__ = ["CheckpointError", "DeAOT", "DeAOTConfig", "EdgeRefinement", "Propagator",
           "PropagatorConfig", "StepOutput", "VARIANTS", "infer_variant", "load_model",
           "step_together"]
