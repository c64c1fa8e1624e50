"""Project paths, class order, run profiles, seeding and device choice.

Imports nothing heavy (no torch, no numpy at import time): ``brainlib --help`` loads this module.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from brainlib.errors import DataError, DeviceError

if TYPE_CHECKING:
    import torch

PROJ_ROOT = Path(__file__).resolve().parents[1]
FIGURES_DIR = PROJ_ROOT / "figures"
MODELS_DIR = PROJ_ROOT / "models"
RESULTS_DIR = PROJ_ROOT / "results"

CLASSES: tuple[str, ...] = ("glioma", "meningioma", "notumor", "pituitary")
SPLITS: tuple[str, ...] = ("Training", "Testing")

RUNS_DIR = PROJ_ROOT / "runs"  # checkpoints of runs that are not a shipped recipe (git-ignored); see brainlib.recipes
LEAK_FREE_FILE = RESULTS_DIR / "leak_free_testing.txt"


def results_file(name: str, profile: str | None = None, synthetic: bool = False) -> Path:
    """Where a results table called ``name`` is written: the committed ``results/<name>`` for a full-profile run on
    real data, else a copy of its own under ``results/<profile>/`` (or ``results/synthetic/``; git-ignored), so a
    smoke or synthetic run never rewrites a committed results file."""
    profile = profile or get_profile().name
    if profile == "full" and not synthetic:
        return RESULTS_DIR / name
    return RESULTS_DIR / ("synthetic" if synthetic else profile) / name


def data_dir() -> Path:
    """Dataset root holding Training/ and Testing/ (``BRAINLIB_DATA_DIR`` overrides)."""
    env = os.environ.get("BRAINLIB_DATA_DIR")
    return Path(env).expanduser() if env else PROJ_ROOT / "data" / "brain-tumor-mri"


def cache_dir() -> Path:
    """Where decoded uint8 arrays are cached (``BRAINLIB_CACHE_DIR`` overrides); a path that exists and is
    not a folder is refused with a :class:`DataError`."""
    env = os.environ.get("BRAINLIB_CACHE_DIR")
    path = Path(env).expanduser() if env else PROJ_ROOT / "data" / "cache"
    if path.exists() and not path.is_dir():
        source = "BRAINLIB_CACHE_DIR" if env else "the cache folder"
        raise DataError(f"{source} {path} is a file, not a folder; point it at a folder brainlib may write")
    return path


DATA_DIR = data_dir()


@dataclass(frozen=True)
class Profile:
    """How much work a run does. ``smoke`` runs the same code on a tiny subset."""

    name: str
    max_images_per_class: int | None  # per split; None = all
    epochs: int | None  # None = the recipe's own epoch count
    seeds: int  # seeds per configuration in the ablation grid


PROFILES = {
    "full": Profile("full", None, None, 5),
    "smoke": Profile("smoke", 24, 1, 1),
}


def get_profile(name: str | None = None) -> Profile:
    """The active profile: ``name`` or ``BRAINLIB_PROFILE`` (default ``full``)."""
    name = name or os.environ.get("BRAINLIB_PROFILE", "full")
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[name]


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch so that CPU runs repeat exactly."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


DEVICE_ENV = "BRAINLIB_DEVICE"
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def get_device(prefer: str | None = None) -> torch.device:
    """The device everything runs on: ``prefer`` (e.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``), else
    ``$BRAINLIB_DEVICE``, else the first available of cuda → mps → cpu (``"auto"``).

    A device that was asked for and is not available raises :class:`DeviceError` (never a silent fallback)."""
    import torch

    choice = (prefer or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    source = "--device" if prefer else DEVICE_ENV
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(choice)
    except (RuntimeError, ValueError):
        raise DeviceError(
            f"{source} {choice!r} is not a device; choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"{source} {choice!r}: no CUDA GPU is available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"{source} {choice!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError(f"{source} {choice!r}: Apple MPS is not available on this machine")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"{source} {choice!r} is not supported; choose one of {', '.join(DEVICE_CHOICES)}")
    return device


def describe_device(device: torch.device) -> str:
    """The device in words, for the line every run prints."""
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)}, mixed precision bfloat16)"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
