"""Loading official-format checkpoints: formats, variant inference and clear errors."""

from __future__ import annotations

import pytest
import torch

import aot
from aot.checkpoint import CheckpointError, read_state_dict
from helpers import save_checkpoint, synthetic_model


@pytest.fixture(scope="module")
def tiny_model():
    return synthetic_model("deaott")


@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory):
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ck") / "deaott.pth")


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_loads_and_infers_variant(checkpoint, tiny_model):
    model = aot.load_model(checkpoint)
    assert model.config.name == "deaott"
    assert not model.training
    assert _same_weights(model, tiny_model)


def test_module_prefix_and_extra_entries(tiny_model, tmp_path):
    path = save_checkpoint(tiny_model, tmp_path / "ddp.pth", prefix="module.",
                           optimizer={"lr": torch.tensor(0.1)}, step=3)
    assert _same_weights(aot.load_model(path, variant="deaott"), tiny_model)


@pytest.mark.parametrize("wrap", ["model", "bare"])
def test_other_containers(tiny_model, tmp_path, wrap):
    state = tiny_model.state_dict()
    torch.save({"model": state} if wrap == "model" else state, tmp_path / "x.pth")
    assert _same_weights(aot.load_model(tmp_path / "x.pth"), tiny_model)


@pytest.mark.parametrize("variant", list(aot.VARIANTS))
def test_every_variant_inferred_from_its_layout(variant, tmp_path):
    model = aot.DeAOT(aot.VARIANTS[variant])
    state = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in model.state_dict().items()}
    assert aot.infer_variant(state, f"{variant.upper()}_PRE_YTB_DAV.pth") == variant


def test_deaotb_and_deaotl_share_a_layout():
    model = aot.DeAOT(aot.VARIANTS["deaotb"])
    state = dict(model.state_dict())
    assert aot.infer_variant(state, "DeAOTB_PRE_YTB_DAV.pth") == "deaotb"
    assert aot.infer_variant(state, "weights.pth") == "deaotl"


def test_wrong_variant_names_the_mismatch(checkpoint):
    with pytest.raises(CheckpointError) as error:
        aot.load_model(checkpoint, variant="r50_deaotl")
    message = str(error.value)
    assert "missing keys" in message and "encoder.layer1.0.conv1.weight" in message
    assert "unexpected keys" in message and "encoder.features.0.0.weight" in message
    assert "looks like a deaott checkpoint" in message


def test_missing_key_is_named(tiny_model, tmp_path):
    state = dict(tiny_model.state_dict())
    del state["decoder.conv_out.bias"]
    torch.save({"state_dict": state}, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"1 missing keys: decoder\.conv_out\.bias"):
        aot.load_model(tmp_path / "partial.pth", variant="deaott")


def test_shape_mismatch_is_named(tiny_model, tmp_path):
    state = dict(tiny_model.state_dict())
    state["id_norm.weight"] = torch.ones(128)
    torch.save({"state_dict": state}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"id_norm\.weight \(128,\) != \(256,\)"):
        aot.load_model(tmp_path / "bad.pth", variant="deaott")


def test_truncated_file(checkpoint, tmp_path):
    data = checkpoint.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        aot.load_model(tmp_path / "cut.pth")


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.pth").write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        aot.load_model(tmp_path / "notes.pth")


def test_pickled_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("executed",))

    torch.save({"state_dict": Payload()}, tmp_path / "evil.pth",
               _use_new_zipfile_serialization=True)
    with pytest.raises(CheckpointError, match="could run code") as refused:
        read_state_dict(tmp_path / "evil.pth")
    message = str(refused.value).lower()  # never suggest loading it anyway
    assert "can still be loaded" not in message and "weights_only" not in message


def test_foreign_state_dict(tmp_path):
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="matches no DeAOT variant"):
        aot.load_model(tmp_path / "other.pth")


def test_unknown_variant_and_missing_file(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="unknown DeAOT variant 'deaotx'"):
        aot.load_model(checkpoint, variant="deaotx")
    with pytest.raises(FileNotFoundError):
        aot.load_model(tmp_path / "absent.pth")
