"""The one training path (train → best checkpoint → resume state), inference, and checkpoints.

Evaluation on the dataset's splits lives in :mod:`brainlib.evaluation`, the ablation grid in
:mod:`brainlib.ablation`; both train through :func:`train`."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from brainlib import __version__, config, recipes
from brainlib.data import NORM_MEAN, NORM_STD, ImageSet
from brainlib.errors import CheckpointError
from brainlib.files import atomic_write
from brainlib.loaders import TensorImageDataset, make_loader
from brainlib.models import build_model, model_arguments
from brainlib.recipes import TrainConfig
from brainlib.transforms import to_model_input

if TYPE_CHECKING:  # pandas is imported where a history is built: `brainlib predict` does not need it
    import pandas as pd

CHECKPOINT_FORMAT = "brainlib-checkpoint-v1"
STRING_MODEL_ARGS = {"input_norm": ("global", "brain")}  # the only model arguments that may be strings


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0, momentum: float = 0.9):
    """Optimizer by name: sgd (with momentum), adam, adamw, adamax."""
    name = name.lower()
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adamax":
        return torch.optim.Adamax(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose sgd, adam, adamw or adamax")


def make_scheduler(name: str, optimizer, lr: float, epochs: int, steps_per_epoch: int):
    """Per-step LR scheduler, or None."""
    if name == "none":
        return None
    if name == "onecycle":
        total = epochs * steps_per_epoch
        if total < 8:  # too few steps for warm-up and annealing (smoke runs): constant learning rate
            return None
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=total, pct_start=max(0.25, 2.5 / total)
        )
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    raise ValueError(f"unknown scheduler {name!r}; choose none, onecycle or cosine")


# ----------------------------------------------------------------------------- checkpoints


def atomic_save(obj, path: str | os.PathLike) -> None:
    """torch.save through :func:`brainlib.files.atomic_write`: never a half-written checkpoint."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def checkpoint_dict(model: nn.Module, cfg: TrainConfig, **meta) -> dict:
    """State dict plus plain metadata, loadable with ``torch.load(weights_only=True)``."""
    kwargs = dict(cfg.model_kwargs)
    return {
        "format": CHECKPOINT_FORMAT,
        "brainlib_version": __version__,
        "model_name": cfg.model,
        "model_kwargs": kwargs,
        "classes": list(config.CLASSES),
        "preprocessing": {
            "size": int(model.input_size),
            "channels": int(model.in_channels),
            "grayscale_decode": True,
            "mean": NORM_MEAN,
            "std": NORM_STD,
        },
        "train_config": cfg.as_dict(),
        "tta": bool(cfg.tta),
        "environment": environment(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **meta,
    }


def environment() -> dict:
    """Versions and settings a run's numbers depend on (recorded in checkpoints and results): a retrain
    reproduces bit for bit only with the same torch build, thread count, CPU instruction set and device (see
    the README)."""
    import platform

    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "brainlib": __version__,
        "threads": torch.get_num_threads(),
        "platform": platform.machine(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),  # the kernels' instruction set
        "cuda": None if torch.version.cuda is None else str(torch.version.cuda),
    }


def _one_line(e: Exception, limit: int = 160) -> str:
    return " ".join(str(e).split())[:limit]


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and validate a checkpoint file (no model built)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, expected a checkpoint file")
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, foreign pickles all land here
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable brainlib checkpoint ({_one_line(first, 120)})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a brainlib checkpoint")
    missing = [k for k in ("model_name", "model_kwargs", "preprocessing", "state_dict", "classes") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: incomplete brainlib checkpoint (missing {', '.join(missing)})")
    if list(ckpt.get("classes", [])) != list(config.CLASSES):
        raise CheckpointError(
            f"{path}: trained for classes {ckpt.get('classes')}, this brainlib expects {list(config.CLASSES)}"
        )
    problem = _metadata_problem(ckpt)
    if problem:
        raise CheckpointError(f"{path}: invalid checkpoint metadata ({problem})")
    return ckpt


MAX_INPUT_SIZE, MAX_WIDTH = 1024, 4096  # far above any model here; bounds what a checkpoint can make us allocate


def _metadata_problem(ckpt: dict) -> str | None:
    """What is wrong with a checkpoint's metadata, checked before any model is built (or None)."""
    from brainlib.models import MODELS

    pre = ckpt["preprocessing"]
    if not isinstance(pre, dict):
        return "preprocessing is not a mapping"
    size, channels = pre.get("size"), pre.get("channels")
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= MAX_INPUT_SIZE:
        return f"preprocessing size {size!r} is not a whole number of pixels in 8..{MAX_INPUT_SIZE}"
    if channels not in (1, 3):
        return f"preprocessing channels {channels!r} is not 1 or 3"
    if not isinstance(ckpt["model_name"], str) or ckpt["model_name"] not in MODELS:
        return f"unknown model {ckpt['model_name']!r}"
    kwargs = ckpt["model_kwargs"]
    if not isinstance(kwargs, dict):
        return "model_kwargs is not a mapping"
    for key, value in kwargs.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if len(values) > 16:
            return f"model argument {key!r} has {len(values)} entries"
        for v in values:
            if isinstance(v, bool):
                continue  # a switch (e.g. batch_norm)
            if isinstance(v, str):
                if key in STRING_MODEL_ARGS and v in STRING_MODEL_ARGS[key]:
                    continue  # a choice among known values
                return f"model argument {key!r} = {value!r} is not one of the known choices"
            if not isinstance(v, (int, float)):
                return f"model argument {key!r} = {value!r} is not numeric"
            limit = MAX_INPUT_SIZE if key == "input_size" else MAX_WIDTH
            if not (0 <= v <= limit):
                return f"model argument {key!r} = {value!r} is out of range (0..{limit})"
    from brainlib.models import input_size

    try:
        built_size = input_size(ckpt["model_name"], kwargs)
    except (TypeError, ValueError):
        return f"model argument input_size {kwargs.get('input_size')!r} is not a whole number"
    if built_size != size:
        return f"preprocessing size {size} disagrees with the model's input size {built_size}"
    temperature = ckpt.get("temperature", 1.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0.01 <= temperature <= 100:
        return f"temperature {temperature!r} is not a number in 0.01..100"
    state = ckpt["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        return "state_dict is not a mapping of names to tensors"
    return None


def load_checkpoint(
    path: str | os.PathLike | None = None, device: str | torch.device | None = None
) -> tuple[nn.Module, dict]:
    """Model (in eval mode, on ``device``: default as :func:`brainlib.config.get_device`) and metadata from a
    checkpoint file (default: the default recipe's shipped checkpoint)."""
    path = recipes.checkpoint() if path is None else path
    device = device if isinstance(device, torch.device) else config.get_device(device)
    ckpt = read_checkpoint(path)
    try:
        kwargs = dict(ckpt["model_kwargs"])
        if "pretrained" in model_arguments(ckpt["model_name"]):
            kwargs["pretrained"] = False  # the checkpoint's weights replace them: no need for the ImageNet file
        model = build_model(ckpt["model_name"], **kwargs)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: cannot build its model ({_one_line(e)})") from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit model {ckpt['model_name']!r} ({_one_line(e)})") from None
    bad = [k for k, v in ckpt["state_dict"].items() if torch.is_floating_point(v) and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            f"{path}: {len(bad)} weight tensor(s) hold NaN or infinite values (e.g. {bad[0]}); "
            "the checkpoint is unusable"
        )
    return model.to(device).eval(), ckpt


# ----------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    """What :func:`train` returns: the best model (eval mode, on the training device), the per-epoch history,
    the chosen epoch and its validation accuracy. Unpacks as ``model, history = engine.train(...)``."""

    model: nn.Module
    history: pd.DataFrame
    best_epoch: int
    best_val_acc: float
    device: str = "cpu"
    resumed_at: int = 1  # first epoch run in this call (> 1 when an interrupted run was resumed)

    def __iter__(self):
        return iter((self.model, self.history))

    @property
    def train_seconds(self) -> float:
        return float(self.history["seconds"].sum()) if len(self.history) else 0.0


def use_amp(device: torch.device) -> bool:
    """Mixed precision (bfloat16 autocast) on CUDA; CPU runs stay in float32 so their results never change."""
    return device.type == "cuda"


def run_epoch(
    model,
    loader,
    loss_fn,
    optimizer=None,
    scheduler=None,
    augment: bool | str = False,
    desc: str = "",
    progress: bool = True,
    device: torch.device | None = None,
    on_step=None,
):
    """One pass over ``loader`` (uint8 batches); trains when ``optimizer`` is given. Batches are moved to
    ``device`` (default: the model's) before conversion, so augmentation runs there too. ``on_step(loss)`` is called
    after every backward pass, before the optimizer step (for watching training: see
    :func:`brainlib.explain.training_statistics`).

    Returns (mean loss, accuracy)."""
    device = device or next(model.parameters()).device
    training = optimizer is not None
    model.train(training)
    if training:  # frozen batch norms keep their pretrained statistics (see set_trainable)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None and not m.weight.requires_grad:
                m.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with torch.set_grad_enabled(training):
        for images, y in tqdm(loader, desc=desc, leave=False, disable=not progress):
            images, y = images.to(device, non_blocking=True), y.to(device, non_blocking=True)
            x = to_model_input(images, model.in_channels, augment=augment if training else False)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp(device)):
                logits = model(x.contiguous(memory_format=torch.channels_last))
                loss = loss_fn(logits.float(), y)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if on_step is not None:
                    on_step(loss)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
    return total_loss / max(seen, 1), correct / max(seen, 1)


def parameter_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """The optimizer's parameter groups: one group at ``cfg.lr`` (every recipe with ``backbone_lr`` 1), or the head
    (``model.classifier``) at ``lr`` and the backbone (``model.features``) at ``lr × backbone_lr``."""
    if cfg.backbone_lr == 1.0:
        return [{"params": list(model.parameters()), "lr": cfg.lr}]
    return [
        {"params": list(model.classifier.parameters()), "lr": cfg.lr},
        {"params": list(model.features.parameters()), "lr": cfg.lr * cfg.backbone_lr},
    ]


def set_trainable(model: nn.Module, layers: str) -> None:
    """Which parameters train: ``"all"``; ``"top"`` — the head and the last half of the backbone's parts that hold
    weights (``model.features`` children); ``"head"`` — the classifier only (a linear probe). Frozen batch norms
    also keep their running statistics (:func:`run_epoch` puts them in eval mode)."""
    if layers not in recipes.TRAIN_LAYERS:
        raise ValueError(f"unknown train_layers {layers!r}; choose one of {', '.join(recipes.TRAIN_LAYERS)}")
    parts = [m for m in model.features if any(True for _ in m.parameters())]
    keep = {"all": parts, "top": parts[len(parts) // 2 :], "head": []}[layers]
    for p in model.features.parameters():
        p.requires_grad_(False)
    for m in keep:
        for p in m.parameters():
            p.requires_grad_(True)
    for p in model.classifier.parameters():
        p.requires_grad_(True)


def layers_at(cfg: TrainConfig, epoch: int) -> str:
    """What trains in ``epoch`` (1-based): the head during the warm-up epochs, then ``cfg.train_layers``."""
    return "head" if epoch <= cfg.head_warmup else cfg.train_layers


def training_throughput(cfg: TrainConfig, batches: int = 5, epoch: int | None = None) -> float:
    """Training images per second of ``cfg``'s model as ``cfg`` trains it in ``epoch`` (default: after any head
    warm-up), measured on random inputs: the median over ``batches`` optimizer steps after one warm-up step, on the
    CPU with the current torch thread count. For comparing what frozen layers save; not a result of training."""
    import statistics

    model = build_model(cfg.model, **cfg.model_kwargs).to(memory_format=torch.channels_last)
    set_trainable(model, layers_at(cfg, cfg.head_warmup + 1 if epoch is None else epoch))
    optimizer = make_optimizer(cfg.optimizer, [p for p in model.parameters() if p.requires_grad], cfg.lr)
    size, n = model.input_size, cfg.batch_size
    images = torch.randint(0, 256, (n, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    loader = [(images, torch.arange(n) % len(config.CLASSES))] * (batches + 1)
    times = []

    def timed(loss):  # called after each backward pass: time from the previous step
        times.append(time.perf_counter())

    start = time.perf_counter()
    run_epoch(
        model, loader, nn.CrossEntropyLoss(), optimizer, progress=False, device=torch.device("cpu"), on_step=timed
    )
    steps = [b - a for a, b in zip([start, *times[:-1]], times)][1:]  # the first step warms up
    return n / statistics.median(steps)


def _resume_state(path: Path, cfg: TrainConfig) -> dict | None:
    """The resume state at ``path`` when it belongs to ``cfg`` (None otherwise; an unreadable one is reported)."""
    import warnings

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 — a truncated resume file is not worth failing a run for
        warnings.warn(f"resume state {path} is unreadable; starting from epoch 1", stacklevel=3)
        return None
    if not isinstance(state, dict) or state.get("train_config") != cfg.as_dict():
        return None
    return state


def train(
    cfg: TrainConfig,
    train_set: ImageSet,
    val_set: ImageSet,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    resume: bool = True,
    extra_meta: dict | None = None,
    device: str | torch.device | None = None,
) -> TrainResult:
    """Train ``cfg`` on ``train_set`` and select the best epoch by validation accuracy: the one training path
    of brainlib (the CLI, the benchmark, the ablation grid and cross-validation all come through here).

    With ``out``, a resume state ``<out>.resume`` is written after every epoch, so an interrupted run
    (Ctrl-C, SIGTERM, a crash) rerun with the same ``cfg`` continues where it stopped and ends with the same
    weights as an uninterrupted run (``resume=False`` restarts cleanly); at the end the best model is written
    to ``out`` as a checkpoint (with ``extra_meta``) and the resume state removed.
    ``device``: see :func:`brainlib.config.get_device` (default: ``$BRAINLIB_DEVICE`` or cuda → mps → cpu).
    """
    import pandas as pd

    device = device if isinstance(device, torch.device) else config.get_device(device)
    config.seed_everything(cfg.seed)
    model = build_model(cfg.model, **cfg.model_kwargs)
    size = model.input_size
    for s, name in ((train_set, "train"), (val_set, "validation")):
        if s.images.shape[-1] != size:
            raise ValueError(f"{name} images are {s.images.shape[-1]}px, model {cfg.model} expects {size}px")
    model = model.to(device=device, memory_format=torch.channels_last)  # measured faster for conv nets on CPU
    train_ds = TensorImageDataset(train_set.images, train_set.labels)
    val_ds = TensorImageDataset(val_set.images, val_set.labels)
    steps = -(-len(train_ds) // cfg.batch_size)
    groups = parameter_groups(model, cfg)
    params = groups[0]["params"] if len(groups) == 1 else groups
    optimizer = make_optimizer(cfg.optimizer, params, cfg.lr, cfg.weight_decay, cfg.momentum)
    peak = cfg.lr if len(groups) == 1 else [g["lr"] for g in groups]
    scheduler = make_scheduler(cfg.scheduler, optimizer, peak, cfg.epochs, steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    history: list[dict] = []
    best = {"val_acc": -1.0, "epoch": 0, "state": None}
    start_epoch = 1
    patience_left = cfg.early_stopping

    resume_path = Path(f"{out}.resume") if out else None
    if resume_path and resume_path.exists():
        state = _resume_state(resume_path, cfg) if resume else None
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
            history, best = state["history"], state["best"]
            start_epoch = len(history) + 1
            if cfg.early_stopping is not None:
                patience_left = cfg.early_stopping - (len(history) - best["epoch"])
            if progress:
                print(f"resuming from epoch {start_epoch} ({resume_path.name})")
        else:
            resume_path.unlink()

    for epoch in range(start_epoch, cfg.epochs + 1):
        if patience_left is not None and patience_left < 0:
            break
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # augmentation randomness, same on resume
        loader = make_loader(train_ds, cfg.batch_size, shuffle=True, seed=cfg.seed * 100_003 + epoch)
        if cfg.train_layers != "all" or cfg.head_warmup:
            set_trainable(model, layers_at(cfg, epoch))
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc = run_epoch(
            model,
            loader,
            loss_fn,
            optimizer,
            scheduler,
            cfg.augment,
            desc=f"epoch {epoch}/{cfg.epochs}",
            progress=progress,
            device=device,
        )
        seconds = time.perf_counter() - t0
        val_loss, val_acc = run_epoch(model, make_loader(val_ds, 256), loss_fn, progress=False, device=device)
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": lr,
                "seconds": seconds,
                "images_per_s": len(train_ds) / seconds,
            }
        )
        if val_acc > best["val_acc"]:
            best = {
                "val_acc": val_acc,
                "epoch": epoch,
                "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            }
            patience_left = cfg.early_stopping
        elif patience_left is not None:
            patience_left -= 1
        if progress:
            print(
                f"epoch {epoch:2d}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
                f"val loss {val_loss:.4f} acc {val_acc:.4f}  {seconds:.1f}s"
            )
        if resume_path:
            atomic_save(
                {
                    "train_config": cfg.as_dict(),
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else {},
                    "history": history,
                    "best": best,
                },
                resume_path,
            )

    model.load_state_dict(best["state"])
    model.eval()
    if cfg.train_layers != "all" or cfg.head_warmup:
        set_trainable(model, "all")  # the trained model is returned like any other (Grad-CAM needs gradients)
    result = TrainResult(
        model, pd.DataFrame(history), int(best["epoch"]), float(best["val_acc"]), str(device), start_epoch
    )
    if out:
        atomic_save(checkpoint_dict(model, cfg, **{**train_metadata(result, train_set), **(extra_meta or {})}), out)
        resume_path.unlink(missing_ok=True)
    return result


def train_metadata(result: TrainResult, train_set: ImageSet) -> dict:
    """What a checkpoint records about its training run."""
    return {
        "history": result.history.to_dict("records"),
        "best_epoch": result.best_epoch,
        "best_val_acc": result.best_val_acc,
        "data_fingerprint": train_set.fingerprint,
        "trained_on": result.device,
    }


def update_checkpoint(path: str | os.PathLike, out: str | os.PathLike | None = None, **meta) -> None:
    """Add metadata (e.g. Testing metrics) to a checkpoint written by :func:`train`, atomically (into a copy at
    ``out`` when given)."""
    ckpt = read_checkpoint(path)
    ckpt.update(meta)
    atomic_save(ckpt, out or path)


# ----------------------------------------------------------------------------- inference
@torch.no_grad()
def predict_logits(
    model: nn.Module, images_uint8: torch.Tensor, batch_size: int = 256, tta: bool = False
) -> np.ndarray:
    """Raw class scores for uint8 N×H×W images: N×classes, or 2×N×classes with ``tta`` (the image, its mirror)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images_uint8), batch_size):
        x = to_model_input(images_uint8[i : i + batch_size].to(device), model.in_channels)
        views = (x, torch.flip(x, dims=[3])) if tta else (x,)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp(device)):
            out.append(torch.stack([model(v).float() for v in views]).cpu())
    n = 2 if tta else 1
    return torch.cat(out, dim=1).numpy() if out else np.zeros((n, 0, len(config.CLASSES)), dtype=np.float32)


def probabilities_from_logits(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax of ``logits / temperature`` (views × N × classes), averaged over the views (flip TTA)."""
    z = torch.as_tensor(logits)
    if temperature != 1.0:
        z = z / temperature
    return torch.softmax(z, dim=-1).mean(0).numpy()


def predict_proba(
    model: nn.Module, images_uint8: torch.Tensor, batch_size: int = 256, tta: bool = False, temperature: float = 1.0
) -> np.ndarray:
    """Class probabilities (N×classes, float32 numpy) for uint8 N×H×W images at the model's input size: the
    logits of :func:`predict_logits` divided by ``temperature`` (the checkpoint's calibration, see
    :func:`brainlib.evaluation.fit_temperature`), softmaxed and averaged over the flip views with ``tta``."""
    return probabilities_from_logits(predict_logits(model, images_uint8, batch_size, tta), temperature)


def checkpoint_temperature(ckpt: dict) -> float:
    """The calibration temperature stored in a checkpoint (1.0, i.e. none, for older checkpoints)."""
    return float(ckpt.get("temperature", 1.0))
