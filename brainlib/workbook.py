"""The notebooks' set-up: one call at the top of every chapter and solution notebook."""

from __future__ import annotations

import platform
import warnings

from brainlib import __version__, config


def setup(hide_known_warnings: bool = True) -> config.Profile:
    """Print the profile, device and versions a notebook runs with, hide the one known-harmless warning (the stray
    hidden folder of the Kaggle download, which notebook 01 shows and explains: it passes False), and return the
    active profile."""
    import torch

    if hide_known_warnings:
        warnings.filterwarnings("ignore", message=".*skipped 1 hidden folder")
    profile = config.get_profile()
    print(
        f"profile: {profile.name} | device: {config.get_device()} | brainlib {__version__} | "
        f"torch {torch.__version__} | python {platform.python_version()}"
    )
    return profile
