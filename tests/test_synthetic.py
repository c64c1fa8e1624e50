"""The SYNTHETIC phantom generator: deterministic, valid layout, visibly different classes."""

from __future__ import annotations

import numpy as np
import pytest

from brainlib import config
from brainlib.data import load_image, scan_split, validate_layout
from brainlib.synthetic import make_phantom, write_synthetic_dataset

CLASS = {name: i for i, name in enumerate(config.CLASSES)}


def class_means(n: int = 24, size: int = 64, seed: int = 0) -> np.ndarray:
    """Mean image of ``n`` phantoms per class, shape classes × size × size (float)."""
    out = []
    for label in range(len(config.CLASSES)):
        rng = np.random.default_rng([seed, label])
        out.append(np.mean([make_phantom(label, rng, size) for _ in range(n)], axis=0))
    return np.stack(out)


def test_make_phantom_dtype_shape_range():
    rng = np.random.default_rng(0)
    for label in range(len(config.CLASSES)):
        for size in (32, 224):
            img = make_phantom(label, rng, size)
            assert img.dtype == np.uint8 and img.shape == (size, size)
            assert img.max() > 150  # skull ring is bright
            assert img[0, 0] == 0 and img[-1, -1] == 0  # corners are outside the head


def test_make_phantom_rejects_bad_label():
    with pytest.raises(ValueError):
        make_phantom(len(config.CLASSES), np.random.default_rng(0))
    with pytest.raises(ValueError):
        make_phantom(-1, np.random.default_rng(0))


def test_make_phantom_deterministic():
    for label in range(len(config.CLASSES)):
        a = make_phantom(label, np.random.default_rng(7), 96)
        b = make_phantom(label, np.random.default_rng(7), 96)
        assert a.tobytes() == b.tobytes()
    c = make_phantom(0, np.random.default_rng(8), 96)
    assert c.tobytes() != make_phantom(0, np.random.default_rng(7), 96).tobytes()


def _tree_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_write_synthetic_dataset_deterministic(tmp_path):
    a = write_synthetic_dataset(tmp_path / "a", 2, 1, size=48, seed=5)
    b = write_synthetic_dataset(tmp_path / "b", 2, 1, size=48, seed=5)
    c = write_synthetic_dataset(tmp_path / "c", 2, 1, size=48, seed=6)
    files_a, files_b, files_c = _tree_bytes(a), _tree_bytes(b), _tree_bytes(c)
    assert files_a == files_b
    assert files_a.keys() == files_c.keys()
    jpgs = [k for k in files_a if k.endswith(".jpg")]
    assert any(files_a[k] != files_c[k] for k in jpgs)


def test_write_synthetic_dataset_layout(synthetic_root, synthetic_spec, synthetic_counts):
    assert validate_layout(synthetic_root) == synthetic_root
    for split in config.SPLITS:
        scan = scan_split(synthetic_root, split)
        assert scan.counts() == synthetic_counts[split]
        assert not scan.skipped
        assert all(p.rsplit("/", 1)[1].startswith("synth_") and p.endswith(".jpg") for p in scan.paths)
    img = load_image(synthetic_root / scan.paths[0])
    assert img.shape == (synthetic_spec.size, synthetic_spec.size)
    notice = (synthetic_root / "SYNTHETIC_DATA.txt").read_text()
    assert "SYNTHETIC" in notice and "NOT REAL MRI" in notice


def test_write_synthetic_dataset_jpeg_is_grayscale(tmp_path):
    from PIL import Image

    root = write_synthetic_dataset(tmp_path / "ds", 1, 0, size=40)
    f = root / "Training" / "glioma" / "synth_0000.jpg"
    with Image.open(f) as im:
        assert im.mode == "L" and im.format == "JPEG" and im.size == (40, 40)
    assert not list((root / "Testing" / "glioma").iterdir())


def lesion_regions(size: int) -> dict[str, np.ndarray]:
    """Boolean masks (in a nominal, centred head) where each lesion class should be brighter than the rest."""
    c = np.linspace(-1.0, 1.0, size)
    y, x = c[:, None], c[None, :]
    r = np.sqrt((x / 0.71) ** 2 + (y / 0.845) ** 2)  # ~1 at the skull's outer edge
    return {
        "glioma": r < 0.45,  # brain centre
        "meningioma": (r > 0.55) & (r < 0.88) & (y < -0.1),  # band under the upper skull
        "pituitary": (np.abs(x) < 0.12) & (y > 0.4) & (y < 0.65),  # bottom centre of the brain
    }


def test_classes_differ():
    means = class_means(n=32, size=64)
    regions = lesion_regions(64)
    margin = {"glioma": 25, "meningioma": 7, "pituitary": 25}  # gray levels; observed ~45 / ~12 / ~40
    for name, mask in regions.items():
        level = means[:, mask].mean(axis=1)  # each class mean image, averaged over the region
        own = level[CLASS[name]]
        others = np.delete(level, CLASS[name])
        assert own > others.max() + margin[name], (name, level)
    # every pair of classes is told apart by at least one region, so all four mean images differ
    table = np.array([[means[k][m].mean() for m in regions.values()] for k in range(len(config.CLASSES))])
    for i in range(len(config.CLASSES)):
        for j in range(i + 1, len(config.CLASSES)):
            assert np.abs(table[i] - table[j]).max() > 7, (config.CLASSES[i], config.CLASSES[j], table)
