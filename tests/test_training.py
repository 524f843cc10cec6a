"""Training: a step lowers the loss on a fixed batch; a resumed run continues exactly; export."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from aot.config import VARIANTS
from aot.model.deaot import DeAOT
from aot.bench.synthetic_weights import synthetic_model_state
from aot.train.data import ClipSampler
from aot.train.engine import clip_loss
from aot.train.loss import bootstrapped_cross_entropy, soft_jaccard
from aot.train.trainer import TrainConfig, batches, train

SIZE = (65, 65)


def test_losses_on_known_cases():
    labels = torch.tensor([[[0, 1], [1, 1]]])
    perfect = torch.tensor([[[[9.0, -9.0], [-9.0, -9.0]], [[-9.0, 9.0], [9.0, 9.0]]]])
    assert soft_jaccard(perfect, labels).item() < 1e-3
    assert soft_jaccard(-perfect, labels).item() > 0.99
    uniform = torch.zeros(1, 2, 2, 2)
    all_pixels = bootstrapped_cross_entropy(uniform, labels, step=0, hard_mining_steps=10)
    assert torch.allclose(all_pixels, torch.log(torch.tensor(2.0)))
    mixed = perfect.clone()
    mixed[0, :, 0, 0] = torch.tensor([-9.0, 9.0])  # one confidently wrong pixel
    hardest = bootstrapped_cross_entropy(mixed, labels, step=10, hard_mining_steps=10)
    everything = bootstrapped_cross_entropy(mixed, labels, step=0, hard_mining_steps=10)
    assert hardest > everything  # the annealed loss keeps only the hardest pixels


def test_a_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = DeAOT(VARIANTS["deaott"])
    model.load_state_dict(synthetic_model_state(model, seed=1))
    model.train()
    frames, labels, num_objects = ClipSampler(["synthetic"], seed=3, size=SIZE,
                                              frames=3).batch(0, 2).network_inputs()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4)

    def loss() -> torch.Tensor:
        return clip_loss(model, frames, labels, num_objects, 0, 100)

    before = loss()
    before.backward()
    optimizer.step()
    optimizer.zero_grad()
    with torch.no_grad():
        after = loss()
    assert after.item() < before.item()


def test_resume_continues_exactly(tmp_path):
    config = TrainConfig(out=str(tmp_path / "straight"), steps=4, batch_size=1, frames=3,
                         size=SIZE, save_every=2, seed=5)
    straight = torch.load(train(config), weights_only=True)["state_dict"]
    halfway = tmp_path / "straight" / "step_000002.pth"
    checkpoint = torch.load(halfway, weights_only=True)
    assert checkpoint["step"] == 2 and len(checkpoint["losses"]) == 2
    resumed_config = TrainConfig(**{**config.__dict__, "out": str(tmp_path / "resumed")})
    resumed = torch.load(train(resumed_config, resume=str(halfway)),
                         weights_only=True)["state_dict"]
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    log = (tmp_path / "resumed" / "train.log").read_text()
    assert "resumed from" in log and "step 4 loss" in log


def test_worker_processes_render_the_batches_the_training_process_would():
    sampler = ClipSampler(["synthetic"], seed=7, size=SIZE, frames=3)
    config = TrainConfig(steps=5, batch_size=2, frames=3, size=SIZE, seed=7)
    rng_before = torch.get_rng_state()
    in_process = list(batches(sampler, config, first_step=2))
    in_workers = list(batches(sampler, replace(config, workers=2), first_step=2))
    assert torch.equal(torch.get_rng_state(), rng_before)  # model randomness is untouched
    assert len(in_process) == len(in_workers) == 3
    for a, b in zip(in_process, in_workers):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(in_process[0].images, in_process[1].images)
    frames, labels, _ = in_workers[0].network_inputs()
    assert frames.shape == (2, 3, 3, *SIZE) and labels.dtype == torch.int64
    assert abs(frames.mean().item()) < 3 and frames.std().item() > 0.3  # normalised


def test_export_averages_checkpoints_into_a_loadable_release_file(tmp_path):
    from aot.checkpoint import load_model
    from aot.train.export import export

    config = TrainConfig(out=str(tmp_path / "run"), steps=2, batch_size=1, frames=3, size=SIZE,
                         save_every=1, seed=3)
    train(config)
    steps = [str(tmp_path / "run" / f"step_00000{i}.pth") for i in (1, 2)]
    states = [torch.load(p, weights_only=True)["state_dict"] for p in steps]
    export(steps, str(tmp_path / "averaged.pth"))
    model = load_model(tmp_path / "averaged.pth")
    key = "LSTT.layers.0.linear_QV.weight"
    assert not torch.equal(states[0][key], states[1][key])  # the weights did move
    expected = (states[0][key] + states[1][key]) / 2
    assert torch.allclose(model.state_dict()[key], expected, atol=2e-3, rtol=1e-3)
    assert (tmp_path / "averaged.pth").stat().st_size < 0.6 * Path(steps[0]).stat().st_size

    export(steps, str(tmp_path / "mixed.pth"), weights=[3, 1])  # a stage interpolation
    mixed = load_model(tmp_path / "mixed.pth").state_dict()[key]
    assert torch.allclose(mixed, 0.75 * states[0][key] + 0.25 * states[1][key],
                          atol=2e-3, rtol=1e-3)
    assert not torch.equal(mixed, model.state_dict()[key])  # not the equal-weight mean
    with pytest.raises(ValueError, match="one non-negative weight per checkpoint"):
        export(steps, str(tmp_path / "bad.pth"), weights=[1])
