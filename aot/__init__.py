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

Also exported for the code built on it (``tracker``): the safe weights readers
(``load_weights_file``, ``load_tensor_dict``, ``WeightsFileError``), the checkpoint reader
(``read_state_dict``, ``infer_variant``), the input checks (``check_frame``,
``check_labels``, ``MAX_OBJECT_ID``) and the precision policies (``resolve_precision``).
"""

from aot.checkpoint import CheckpointError, infer_variant, load_model, read_state_dict
from aot.config import VARIANTS, DeAOTConfig
from aot.edge_refinement import EdgeRefinement
from aot.model.deaot import DeAOT
from aot.object_slots import MAX_OBJECT_ID, check_labels
from aot.precision import resolve_precision
from aot.preprocess import check_frame
from aot.propagator import Propagator, StepOutput
from aot.propagator_config import PropagatorConfig
from aot.stepping import step_together
from aot.weights_file import WeightsFileError, load_tensor_dict, load_weights_file

__all__ = ["CheckpointError", "DeAOT", "DeAOTConfig", "EdgeRefinement", "MAX_OBJECT_ID",
           "Propagator", "PropagatorConfig", "StepOutput", "VARIANTS", "WeightsFileError",
           "check_frame", "check_labels", "infer_variant", "load_model", "load_tensor_dict",
           "load_weights_file", "read_state_dict", "resolve_precision", "step_together"]
