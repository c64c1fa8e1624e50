"""brainlib — the helper package of the brain-tumor MRI research workbook."""

__version__ = "0.1.0"
