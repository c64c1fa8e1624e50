"""The errors brainlib raises for bad input: the CLI turns each into one line on stderr and exit code 2.

Kept free of heavy imports so that the CLI can catch them without loading torch."""

from __future__ import annotations


class BadInput(ValueError):
    """Base class: a problem with what the user gave us (not a bug of ours)."""


class DataError(BadInput):
    """A problem with the user's data: wrong layout, unreadable image, unusable cache folder, ..."""


class CheckpointError(BadInput):
    """A file that cannot be used as a brainlib checkpoint."""


class DeviceError(BadInput):
    """A device the user asked for that this machine does not have."""


class SweepError(BadInput):
    """Bad sweep settings (workers, scheduler address)."""
