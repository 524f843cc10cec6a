"""The fast paths: same mathematics, and labels that agree with float32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aot
from aot.model.gated_attention import _fused_attention, attention
from aot.precision import native_bf16, resolve_precision
from aot.bench.reference_cases import run_case
from helpers import bikes_clip, synthetic_model
from reference_data import CASES, load_case

#: The fast path's promise: labels agree with the fp32 path on at least this share.
MIN_AGREEMENT = 0.99


def test_value_heads_are_the_same_attention():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 50, 128) / 11, torch.randn(2, 70, 128), torch.randn(2, 70, 1024)
    assert torch.allclose(_fused_attention(q, k, v), attention(q, k, v), atol=1e-5)


def test_attention_precision_argument():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 40, 16) / 4, torch.randn(1, 60, 16), torch.randn(1, 60, 32)
    exact = attention(q, k, v)
    fast = attention(q, k, v, torch.bfloat16)
    assert fast.dtype == torch.float32
    assert 0 < (fast - exact).abs().max() < 0.05


def test_precision_resolution():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cuda).autocast_dtype == torch.float16
    auto = resolve_precision("auto", cpu)
    assert auto.name == ("bf16-attention" if native_bf16(cpu) else "fp32")
    assert resolve_precision("bf16", cpu).autocast_dtype == torch.bfloat16
    assert resolve_precision("fp32", cpu).attention_dtype is None
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("int8", cpu)


@pytest.mark.skipif(not CASES, reason="../shared/reference/deaot is not present")
@pytest.mark.parametrize("name", CASES)
def test_bf16_attention_agrees_with_fp32(name, tmp_path):
    case = load_case(name)
    model = aot.load_model(case.write_checkpoint(tmp_path / "model.pth"))
    exact = np.stack(run_case(model, case).labels)
    fast = np.stack(run_case(model, case, precision="bf16-attention").labels)
    assert (exact == fast).mean() >= MIN_AGREEMENT


@pytest.mark.parametrize("precision", ["bf16", "fp16", "bf16-attention"])
def test_every_precision_tracks_the_clip(precision):
    frames, mask = bikes_clip()
    model = synthetic_model("deaott")
    results = {}
    for mode in ("fp32", precision):
        prop = aot.Propagator(model, precision=mode, max_long_term=3, long_term_gap=2)
        prop.add_reference(frames[0], mask)
        results[mode] = np.stack([prop.step(frame).labels for frame in frames[1:]])
        assert prop.precision == mode
    assert (results["fp32"] == results[precision]).mean() >= 0.97
