"""The training loop: AdamW with warm-up and polynomial decay, gradient clipping, mixed
precision, checkpoints every N steps and exact resumption."""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch
from tqdm import tqdm

from aot.checkpoint import read_state_dict
from aot.weights_file import load_weights_file
from aot.config import VARIANTS
from aot.model.deaot import DeAOT
from aot.train.data import Batch, ClipSampler
from aot.train.engine import clip_loss

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on (recorded in its checkpoints).

    Attributes:
        variant: DeAOT variant to train.
        out: folder for checkpoints and the log.
        data: ``"synthetic"`` and/or VOS dataset folders.
        init: checkpoint to fine-tune from (official format), or ``None`` to train from
            scratch.
        steps: optimisation steps.
        batch_size: clips per step.
        frames: frames per clip (1 reference + frames - 1 propagated).
        max_gap: largest step between a synthetic clip's sampled frames (1: consecutive).
        size: (H, W) of the network input.
        lr, min_lr: peak and final learning rate (polynomial decay, power 0.9).
        warmup: share of steps with linear warm-up.
        weight_decay: AdamW decay of weights (not of norms and biases).
        sequential_start: share of steps after which predictions, not ground truth, feed
            the memory.
        hard_mining: share of steps over which the cross-entropy anneals to the hardest 15%.
        clip_grad: gradient norm bound.
        seed: seeds the data and the initialisation.
        save_every: steps between checkpoints.
        device: cpu or cuda.
        amp: mixed precision (bf16 autocast); default on for CUDA.
        workers: processes that render batches ahead of the training step (0: render in
            the training process). Batches do not depend on it.
    """

    variant: str = "deaott"
    out: str = "runs/deaott"
    data: tuple[str, ...] = ("synthetic",)
    init: str | None = None
    steps: int = 2000
    batch_size: int = 8
    frames: int = 5
    max_gap: int = 1
    size: tuple[int, int] = (193, 193)
    lr: float = 2e-4
    min_lr: float = 2e-5
    warmup: float = 0.05
    weight_decay: float = 0.07
    sequential_start: float = 0.5
    hard_mining: float = 0.5
    clip_grad: float = 5.0
    seed: int = 0
    save_every: int = 250
    device: str = "cpu"
    amp: bool | None = None
    workers: int = 0


@dataclass
class TrainState:
    """What a checkpoint restores."""

    step: int = 0
    losses: list[float] = field(default_factory=list)


def learning_rate(config: TrainConfig, step: int) -> float:
    warmup = max(1, int(config.warmup * config.steps))
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, config.steps - warmup)
    return config.min_lr + (config.lr - config.min_lr) * (1 - progress) ** 0.9


def build_optimizer(model: DeAOT, config: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)


def save_checkpoint(path: Path, model: DeAOT, optimizer: torch.optim.Optimizer,
                    config: TrainConfig, state: TrainState) -> None:
    """Official-format ``state_dict`` plus what resuming needs; written atomically."""
    payload = {
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": state.step,
        "losses": state.losses,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "rng_torch": torch.get_rng_state(),
        "rng_python": list(random.getstate()[1]),
    }
    temporary = path.with_suffix(".tmp")
    torch.save(payload, temporary)
    temporary.replace(path)


class _StepBatches(torch.utils.data.Dataset):
    """Batch ``first + i`` of the sampler as item ``i`` (a batch depends only on its step)."""

    def __init__(self, sampler: ClipSampler, first: int, last: int, batch_size: int) -> None:
        self.sampler, self.first, self.last, self.batch_size = sampler, first, last, batch_size

    def __len__(self) -> int:
        return self.last - self.first

    def __getitem__(self, index: int) -> Batch:
        return self.sampler.batch(self.first + index, self.batch_size)


def _single_threaded_worker(_: int) -> None:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def batches(sampler: ClipSampler, config: TrainConfig, first_step: int) -> Iterator[Batch]:
    """The batches of steps ``first_step .. config.steps - 1`` in order, rendered by
    ``config.workers`` processes ahead of use when it is above 0.

    Workers are spawned, not forked: a fork of a process whose OpenCV or CUDA already runs
    threads can hang.
    """
    if config.workers == 0:
        return (sampler.batch(step, config.batch_size) for step in range(first_step, config.steps))
    loader = torch.utils.data.DataLoader(
        _StepBatches(sampler, first_step, config.steps, config.batch_size), batch_size=None,
        num_workers=config.workers, prefetch_factor=4, worker_init_fn=_single_threaded_worker,
        multiprocessing_context="spawn",
        pin_memory=torch.device(config.device).type == "cuda",
        generator=torch.Generator().manual_seed(config.seed))
    return iter(loader)


def latest_checkpoint(out: Path) -> Path | None:
    checkpoints = sorted(out.glob("step_*.pth"), key=lambda p: int(p.stem.split("_")[1]))
    return checkpoints[-1] if checkpoints else None


def train(config: TrainConfig, resume: str | None = None) -> Path:
    """Run (or resume) a training run; returns the final weights' path.

    Args:
        config: the run.
        resume: a checkpoint to resume from, or ``"auto"`` for the latest in ``config.out``.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.getLogger("aot.train").addHandler(handler)
    logging.getLogger("aot.train").setLevel(logging.INFO)
    try:
        return _train(config, resume, out)
    finally:
        logging.getLogger("aot.train").removeHandler(handler)
        handler.close()


def _train(config: TrainConfig, resume: str | None, out: Path) -> Path:
    device = torch.device(config.device)
    amp = config.amp if config.amp is not None else device.type == "cuda"
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    model = DeAOT(VARIANTS[config.variant])
    if config.init:
        model.load_state_dict(read_state_dict(config.init))
        logger.info("initialised from %s", config.init)
    model.to(device).train()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    optimizer = build_optimizer(model, config)
    state = TrainState()
    checkpoint = latest_checkpoint(out) if resume == "auto" else (Path(resume) if resume else None)
    if checkpoint is not None:
        payload = load_weights_file(checkpoint)
        model.load_state_dict(payload["state_dict"])
        optimizer.load_state_dict(payload["optimizer"])
        state = TrainState(payload["step"], list(payload["losses"]))
        torch.set_rng_state(payload["rng_torch"].cpu())
        random.setstate((3, tuple(payload["rng_python"]), None))
        logger.info("resumed from %s at step %d", checkpoint, state.step)
    sampler = ClipSampler(list(config.data), config.seed, config.size, config.frames,
                          model.config.max_objects, config.max_gap)
    upcoming = batches(sampler, config, state.step)
    hard_mining_steps = int(config.hard_mining * config.steps)
    progress = tqdm(total=config.steps, initial=state.step, desc="training", unit="step")
    started = time.perf_counter()
    while state.step < config.steps:
        lr = learning_rate(config, state.step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        frames, labels, num_objects = next(upcoming).network_inputs(device)
        sequential = state.step >= config.sequential_start * config.steps
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = clip_loss(model, frames, labels, num_objects, state.step, hard_mining_steps,
                             use_predictions=sequential)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
        optimizer.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"loss became {value} at step {state.step}")
        state.losses.append(value)
        state.step += 1
        recent = float(np.mean(state.losses[-20:]))
        progress.set_postfix(loss=f"{recent:.4f}", lr=f"{lr:.1e}")
        progress.update(1)
        if state.step % 10 == 0 or state.step == config.steps:
            logger.info("step %d loss %.4f (mean of last 20 %.4f) lr %.2e %.1f s", state.step,
                        value, recent, lr, time.perf_counter() - started)
        if state.step % config.save_every == 0 or state.step == config.steps:
            save_checkpoint(out / f"step_{state.step:06d}.pth", model, optimizer, config, state)
    progress.close()
    final = out / "final.pth"
    torch.save({"state_dict": model.state_dict()}, final)
    logger.info("finished: %s", final)
    return final
