"""DataLoaders over decoded uint8 images (batches stay uint8 until :func:`brainlib.transforms.to_model_input`)."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset


class TensorImageDataset(Dataset):
    """Cached uint8 images as a Dataset of (1×H×W uint8 tensor, label); batches are converted (and
    augmented) with :func:`to_model_input`."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i].unsqueeze(0), self.labels[i]


def make_loader(
    dataset: Dataset, batch_size: int = 32, shuffle: bool = False, seed: int = 0, num_workers: int = 0
) -> DataLoader:
    """A DataLoader safe on 2-core laptops and in notebooks (no worker processes by default)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
