"""Project paths, class order, run profiles, seeding and device choice."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

PROJ_ROOT = Path(__file__).resolve().parents[1]
FIGURES_DIR = PROJ_ROOT / "figures"
MODELS_DIR = PROJ_ROOT / "models"
RESULTS_DIR = PROJ_ROOT / "results"

CLASSES: tuple[str, ...] = ("glioma", "meningioma", "notumor", "pituitary")
SPLITS: tuple[str, ...] = ("Training", "Testing")

DEFAULT_CHECKPOINT = MODELS_DIR / "fastnet.pt"  # the fast recipe; `brainlib train` rewrites it
SEED_CHECKPOINT = MODELS_DIR / "seed.pt"  # the published seed recipe, kept for comparison
LEAK_FREE_FILE = RESULTS_DIR / "leak_free_testing.txt"


def data_dir() -> Path:
    """Dataset root holding Training/ and Testing/ (``BRAINLIB_DATA_DIR`` overrides)."""
    env = os.environ.get("BRAINLIB_DATA_DIR")
    return Path(env).expanduser() if env else PROJ_ROOT / "data" / "brain-tumor-mri"


def cache_dir() -> Path:
    """Where decoded uint8 arrays are cached (``BRAINLIB_CACHE_DIR`` overrides)."""
    env = os.environ.get("BRAINLIB_CACHE_DIR")
    return Path(env).expanduser() if env else PROJ_ROOT / "data" / "cache"


DATA_DIR = data_dir()


@dataclass(frozen=True)
class Profile:
    """How much work a run does. ``smoke`` runs the same code on a tiny subset."""

    name: str
    max_images_per_class: int | None  # per split; None = all
    epochs: int | None  # None = the recipe's own epoch count
    seeds: int  # seeds per configuration in experiments


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
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_device(prefer: str | None = None) -> torch.device:
    """cuda → mps → cpu, or ``prefer`` when given."""
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
