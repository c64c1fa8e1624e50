"""brainlib.data on generated files: layout checks, scanning, decoding every file mode, cache, splits, fetch.

All images here are generated on the fly (or come from the SYNTHETIC phantom fixture); no real MRI is used.
"""

from __future__ import annotations

import shutil
import sys
import types
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainlib import config, data, fetchers
from brainlib.data import DataError, load_image, scan_split, validate_layout
from brainlib.datasets import load_split
from brainlib.fetchers import fetch_kaggle as fetch
from brainlib.splits import train_val_split


# ----------------------------------------------------------------------------- helpers
def copy_dataset(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def square_image(size: int = 40, lo: int = 0, hi: int = 255, dtype=np.uint8) -> np.ndarray:
    """``lo`` background with a ``hi`` square in rows/cols 10..19."""
    arr = np.full((size, size), lo, dtype=dtype)
    arr[10:20, 10:20] = hi
    return arr


def gradient(size: int = 48) -> np.ndarray:
    return np.tile(np.linspace(10, 240, size).round().astype(np.uint8), (size, 1))


def assert_one_line_error(exc: pytest.ExceptionInfo, path: Path, *fragments: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg
    assert str(path) in msg
    for fragment in fragments:
        assert fragment in msg


# ----------------------------------------------------------------------------- layout
def test_validate_layout_missing_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="does not exist") as exc:
        validate_layout(missing)
    assert str(missing) in str(exc.value)


def test_load_split_missing_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_split("Training", size=32, root=tmp_path / "nowhere")


def test_validate_layout_path_is_a_file(tmp_path):
    f = tmp_path / "dataset.zip"
    f.write_bytes(b"PK")
    with pytest.raises(DataError, match="not a folder"):
        validate_layout(f)


def test_validate_layout_wrong_layout_names_what_is_missing(tmp_path):
    for c in config.CLASSES:
        (tmp_path / "Training" / c).mkdir(parents=True)
    (tmp_path / "Testing" / "glioma").mkdir(parents=True)
    with pytest.raises(DataError) as exc:
        validate_layout(tmp_path)
    msg = str(exc.value)
    assert "missing" in msg
    for name in ("Testing/meningioma", "Testing/notumor", "Testing/pituitary"):
        assert name in msg
    assert "Training/glioma" not in msg.split("(expected")[0]  # present folders are not listed as missing
    with pytest.raises(DataError, match="Testing/pituitary"):
        load_split("Training", size=32, root=tmp_path)


def test_validate_layout_accepts_synthetic(synthetic_root):
    assert validate_layout(synthetic_root) == synthetic_root


# ----------------------------------------------------------------------------- scanning
def test_scan_split_skips_hidden_and_non_images(synthetic_root, synthetic_counts, tmp_path):
    root = copy_dataset(synthetic_root, tmp_path / "ds")
    glioma = root / "Training" / "glioma"
    (glioma / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (glioma / ".ipynb_checkpoints").mkdir()
    shutil.copy(glioma / "synth_0000.jpg", glioma / ".ipynb_checkpoints" / "x.jpg")
    (root / "Training" / "meningioma" / "notes.txt").write_text("scanner notes")
    with pytest.warns(UserWarning, match="skipped"):
        scan = scan_split(root, "Training")
    assert scan.skipped == Counter({"hidden file": 1, "hidden folder": 1, "not an image": 1})
    assert scan.counts() == synthetic_counts["Training"]
    assert not any("ipynb" in p or p.endswith((".txt", ".DS_Store")) for p in scan.paths)


def test_scan_split_clean_has_no_skips(synthetic_root, synthetic_counts):
    scan = scan_split(synthetic_root, "Testing")
    assert not scan.skipped
    assert scan.counts() == synthetic_counts["Testing"]
    assert scan.labels == sorted(scan.labels)
    assert all(p.startswith("Testing/") for p in scan.paths)


def test_scan_split_max_per_class(synthetic_root):
    scan = scan_split(synthetic_root, "Training", max_per_class=2)
    assert scan.counts() == {c: 2 for c in config.CLASSES}


# ----------------------------------------------------------------------------- unreadable files
def test_load_image_zero_byte_file(tmp_path):
    f = tmp_path / "empty.jpg"
    f.touch()
    with pytest.raises(DataError) as exc:
        load_image(f)
    assert_one_line_error(exc, f, "empty")


def test_load_image_truncated_jpeg(tmp_path):
    f = tmp_path / "cut.jpg"
    Image.fromarray(gradient(96)).save(f, quality=95)
    raw = f.read_bytes()
    f.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError) as exc:
        load_image(f)
    assert_one_line_error(exc, f)


def test_load_image_text_renamed_jpg(tmp_path):
    f = tmp_path / "fake.jpg"
    f.write_text("this is not an image\nsecond line\n")
    with pytest.raises(DataError) as exc:
        load_image(f)
    assert_one_line_error(exc, f, "not an image")


def test_load_image_directory(tmp_path):
    d = tmp_path / "folder.jpg"
    d.mkdir()
    with pytest.raises(DataError) as exc:
        load_image(d)
    assert_one_line_error(exc, d, "directory")


def test_load_image_missing_file(tmp_path):
    f = tmp_path / "missing.jpg"
    with pytest.raises(DataError) as exc:
        load_image(f)
    assert_one_line_error(exc, f, "no such file")


def test_decompression_bomb_guard(tmp_path, monkeypatch):
    f = tmp_path / "big.png"
    Image.fromarray(gradient(20)).save(f)
    ok = tmp_path / "ok.png"
    Image.fromarray(gradient(10)).save(ok)
    monkeypatch.setattr(data, "MAX_PIXELS", 100)
    with pytest.raises(DataError, match="too large") as exc:
        load_image(f)
    assert_one_line_error(exc, f)
    assert load_image(ok).shape == (10, 10)  # exactly at the limit is still fine


# ----------------------------------------------------------------------------- file modes
@pytest.mark.parametrize("peak", [4095, 65535])
def test_png_16bit_bright_square(tmp_path, peak):
    f = tmp_path / f"sixteen_{peak}.png"
    arr16 = square_image(lo=peak // 4, hi=peak, dtype=np.uint16)
    arr16[30:, 30:] = 0
    Image.fromarray(arr16).save(f)
    assert Image.open(f).mode.startswith("I")  # really a 16-bit file
    arr = load_image(f)
    assert arr.dtype == np.uint8 and arr.shape == (40, 40)
    assert arr[10:20, 10:20].min() == 255  # the brightest value maps to white ...
    assert abs(int(arr[25, 5]) - 64) <= 1  # ... a quarter of it to a quarter gray (not clipped, not >> 8)
    assert arr[30:, 30:].max() == 0


def test_png_16bit_dim_values_keep_their_level(tmp_path):
    f = tmp_path / "sixteen_dim.png"
    Image.fromarray(square_image(lo=20, hi=200, dtype=np.uint16)).save(f)
    arr = load_image(f)
    assert arr[15, 15] == 200 and arr[30, 30] == 20


def test_png_16bit_resized(tmp_path):
    f = tmp_path / "sixteen.png"
    Image.fromarray(square_image(size=64, hi=4095, dtype=np.uint16)).save(f)
    arr = load_image(f, size=32)
    assert arr.shape == (32, 32) and arr.dtype == np.uint8
    assert arr[6, 6] == 255 and arr[28, 28] == 0


def test_float_tiff_with_negative_values_keeps_order(tmp_path):
    a = np.full((40, 40), -500, np.float32)
    a[10:20, 10:20] = 500
    a[30:, 30:] = 0
    f = tmp_path / "float.tif"
    Image.fromarray(a).save(f)
    assert Image.open(f).mode == "F"
    arr = load_image(f)
    assert arr[0, 0] < arr[35, 35] < arr[15, 15]  # -500 < 0 < 500 must stay ordered


def test_rgba_transparent_pixels_become_black(tmp_path):
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., :3] = 250  # bright colour everywhere ...
    rgba[:, 20:, :3] = 128
    rgba[:, 20:, 3] = 255  # ... but only the right half is opaque
    f = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(f)
    arr = load_image(f)
    assert arr.dtype == np.uint8 and arr.shape == (40, 40)
    assert arr[:, :20].max() == 0
    assert np.all(np.abs(arr[:, 20:].astype(int) - 128) <= 1)


def test_la_transparent_pixels_become_black(tmp_path):
    la = Image.merge(
        "LA", (Image.fromarray(np.full((40, 40), 180, np.uint8)), Image.fromarray(square_image(lo=0, hi=255)))
    )
    f = tmp_path / "la.png"
    la.save(f)
    assert Image.open(f).mode == "LA"
    arr = load_image(f)
    assert arr.dtype == np.uint8 and arr.shape == (40, 40)
    assert np.all(arr[10:20, 10:20] == 180)
    assert arr[30:, 30:].max() == 0


def test_palette_image(tmp_path):
    im = Image.fromarray(square_image(lo=0, hi=1), mode="L").convert("P")
    im.putpalette([0, 0, 0, 200, 200, 200] + [0] * (256 - 2) * 3)
    f = tmp_path / "palette.png"
    im.save(f)
    assert Image.open(f).mode == "P"
    arr = load_image(f)
    assert arr.dtype == np.uint8 and arr.shape == (40, 40)
    assert np.all(arr[10:20, 10:20] == 200)
    assert arr[30:, 30:].max() == 0


def test_palette_with_transparency_index(tmp_path):
    im = Image.fromarray(square_image(lo=0, hi=1), mode="L").convert("P")
    im.putpalette([255, 255, 255, 90, 90, 90] + [0] * (256 - 2) * 3)  # index 0 is white but transparent
    f = tmp_path / "palette_t.png"
    im.save(f, transparency=0)
    arr = load_image(f)
    assert np.all(arr[10:20, 10:20] == 90)
    assert arr[30:, 30:].max() == 0


def test_cmyk_jpeg(tmp_path):
    g = gradient(48)
    zero = Image.new("L", (48, 48), 0)
    cmyk = Image.merge("CMYK", (zero, zero, zero, Image.fromarray(255 - g)))
    f = tmp_path / "cmyk.jpg"
    cmyk.save(f, quality=95)
    assert Image.open(f).mode == "CMYK"
    arr = load_image(f)
    assert arr.dtype == np.uint8 and arr.shape == (48, 48)
    assert np.abs(arr.astype(int) - g).max() <= 3  # K = 255 - g prints as gray g, not inverted


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_same_gray_saved_as_l_or_rgb_decodes_identically(tmp_path, fmt):
    rng = np.random.default_rng(1)
    g = np.clip(gradient(64).astype(int) + rng.integers(-20, 20, (64, 64)), 0, 255).astype(np.uint8)
    as_l, as_rgb = tmp_path / f"l.{fmt}", tmp_path / f"rgb.{fmt}"
    Image.fromarray(g).save(as_l)
    Image.fromarray(g).convert("RGB").save(as_rgb)
    assert Image.open(as_l).mode == "L" and Image.open(as_rgb).mode == "RGB"
    a, b = load_image(as_l), load_image(as_rgb)
    assert a.shape == b.shape == (64, 64) and a.dtype == b.dtype == np.uint8
    if fmt == "png":
        assert np.array_equal(a, b)
    else:
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.0


# ----------------------------------------------------------------------------- load_split and its cache
def test_load_split_counts_shape_and_cache(synthetic_root, synthetic_spec, isolated_cache, monkeypatch):
    n = synthetic_spec.n_train
    first = load_split("Training", size=32, root=synthetic_root)
    assert first.images.shape == (4 * n, 32, 32)
    assert first.images.dtype.is_floating_point is False and str(first.images.dtype) == "torch.uint8"
    assert np.bincount(first.labels.numpy()).tolist() == [n] * 4
    assert len(first.paths) == len(first) == 4 * n and not first.errors
    cached = list(isolated_cache.glob("Training_32_*.npz"))
    assert len(cached) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("second load_split decoded images instead of reading the cache")

    monkeypatch.setattr(data, "decode_many", no_decoding)
    second = load_split("Training", size=32, root=synthetic_root)
    assert np.array_equal(first.images.numpy(), second.images.numpy())
    assert np.array_equal(first.labels.numpy(), second.labels.numpy())
    assert first.paths == second.paths and first.fingerprint == second.fingerprint


def test_load_split_without_cache_writes_nothing(synthetic_root, synthetic_spec, isolated_cache):
    s = load_split("Testing", size=24, root=synthetic_root, use_cache=False)
    assert s.images.shape == (4 * synthetic_spec.n_test, 24, 24)
    assert not list(isolated_cache.iterdir())


def test_load_split_skips_unreadable_image(synthetic_root, synthetic_spec, tmp_path):
    n = synthetic_spec.n_train
    root = copy_dataset(synthetic_root, tmp_path / "ds")
    (root / "Training" / "glioma" / "broken.jpg").touch()
    with pytest.warns(UserWarning, match="skipped unreadable image"):
        s = load_split("Training", size=32, root=root)
    assert len(s) == 4 * n
    assert "Training/glioma/broken.jpg" not in s.paths
    assert len(s.errors) == 1 and "broken.jpg" in s.errors[0]
    assert np.bincount(s.labels.numpy()).tolist() == [n] * 4


def test_load_split_cache_invalidated_when_files_change(synthetic_root, tmp_path, isolated_cache):
    root = copy_dataset(synthetic_root, tmp_path / "ds")
    before = load_split("Testing", size=32, root=root)
    shutil.copy(root / "Testing" / "notumor" / "synth_0000.jpg", root / "Testing" / "notumor" / "extra.jpg")
    after = load_split("Testing", size=32, root=root)
    assert after.fingerprint != before.fingerprint
    assert len(after) == len(before) + 1
    assert len(list(isolated_cache.glob("Testing_32_*.npz"))) == 2


def test_load_split_cache_sees_same_size_rewrite(tmp_path):
    root = tmp_path / "bmp"
    for s in config.SPLITS:
        for c in config.CLASSES:
            (root / s / c).mkdir(parents=True)
            Image.fromarray(np.full((16, 16), 50, np.uint8)).save(root / s / c / "a.bmp")
    before = load_split("Training", size=16, root=root)
    Image.fromarray(np.full((16, 16), 200, np.uint8)).save(root / "Training" / "glioma" / "a.bmp")
    after = load_split("Training", size=16, root=root)
    assert before.images[0, 0, 0] == 50
    assert after.images[0, 0, 0] == 200


# ----------------------------------------------------------------------------- train/validation split
def _labels() -> np.ndarray:
    return np.repeat(np.arange(4), [40, 60, 80, 20])


def test_train_val_split_deterministic_disjoint_complete():
    labels = _labels()
    tr, va = train_val_split(labels, val_fraction=0.2, seed=3)
    tr2, va2 = train_val_split(labels, val_fraction=0.2, seed=3)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)
    assert not set(tr) & set(va)
    assert sorted([*tr, *va]) == list(range(len(labels)))
    other = train_val_split(labels, val_fraction=0.2, seed=4)[1]
    assert not np.array_equal(va, other)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_train_val_split_stratified(seed):
    labels = _labels()
    _, va = train_val_split(labels, val_fraction=0.2, seed=seed)
    per_class = np.bincount(labels[va], minlength=4)
    expected = 0.2 * np.bincount(labels)
    assert np.all(np.abs(per_class - expected) <= 1), (per_class, expected)


def test_train_val_split_default_fraction_roughly_15_percent():
    labels = _labels()
    _, va = train_val_split(labels)
    assert 0.12 <= len(va) / len(labels) <= 0.18


def test_train_val_split_groups_never_straddle():
    labels = _labels()
    rng = np.random.default_rng(0)
    # groups of 1..4 near-duplicates, each group within one class (as duplicate groups would be)
    groups = np.empty(len(labels), dtype=int)
    gid, i = 0, 0
    while i < len(labels):
        n = int(rng.integers(1, 5))
        j = i + n
        while j > i + 1 and labels[j - 1] != labels[i]:
            j -= 1
        groups[i:j] = gid
        gid, i = gid + 1, j
    tr, va = train_val_split(labels, groups=groups, val_fraction=0.2, seed=0)
    assert not set(groups[tr]) & set(groups[va])
    assert sorted([*tr, *va]) == list(range(len(labels)))
    per_class = np.bincount(labels[va], minlength=4)
    assert np.all(per_class > 0)


# ----------------------------------------------------------------------------- fetch
def test_fetch_from_folder(synthetic_root, synthetic_counts, tmp_path):
    dest = tmp_path / "dest"
    assert fetch(synthetic_root, dest) == synthetic_counts
    validate_layout(dest)
    assert not dest.with_name("dest.partial").exists()


def test_fetch_from_nested_folder_into_empty_dest(synthetic_root, synthetic_counts, tmp_path):
    src = tmp_path / "download" / "v3"
    copy_dataset(synthetic_root, src / "brain-tumor-mri")
    dest = tmp_path / "dest"
    dest.mkdir()
    assert fetch(tmp_path / "download", dest) == synthetic_counts


def make_zip(root: Path, zip_path: Path, top: str = "bundle", macos_junk: bool = False) -> Path:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                rel = f.relative_to(root).as_posix()
                zf.write(f, f"{top}/{rel}")
                if macos_junk:  # what macOS "Compress" adds: AppleDouble files in a mirrored __MACOSX tree
                    parent, _, name = f"{top}/{rel}".rpartition("/")
                    zf.writestr(f"__MACOSX/{parent}/._{name}", b"\0\5\26\7AppleDouble")
    return zip_path


def test_fetch_from_zip(synthetic_root, synthetic_counts, tmp_path):
    archive = make_zip(synthetic_root, tmp_path / "dataset.zip")
    dest = tmp_path / "dest"
    assert fetch(archive, dest) == synthetic_counts
    assert (dest / "Training" / "glioma" / "synth_0000.jpg").is_file()


def test_fetch_from_macos_zip(synthetic_root, synthetic_counts, tmp_path):
    archive = make_zip(synthetic_root, tmp_path / "dataset.zip", macos_junk=True)
    assert fetch(archive, tmp_path / "dest") == synthetic_counts


def test_fetch_into_non_empty_dest(synthetic_root, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "something.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty"):
        fetch(synthetic_root, dest)
    assert [p.name for p in dest.iterdir()] == ["something.txt"]


def test_fetch_folder_without_splits(tmp_path):
    src = tmp_path / "src"
    (src / "images" / "glioma").mkdir(parents=True)
    Image.fromarray(gradient(16)).save(src / "images" / "glioma" / "a.jpg")
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="Training/ and Testing/"):
        fetch(src, dest)
    assert not dest.exists()


def test_fetch_incomplete_layout_leaves_no_dest(tmp_path):
    src = tmp_path / "src"
    (src / "Training" / "glioma").mkdir(parents=True)
    (src / "Testing").mkdir()
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="missing"):
        fetch(src, dest)
    assert not dest.exists() and not dest.with_name("dest.partial").exists()


def test_fetch_missing_source_and_non_zip_file(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        fetch(tmp_path / "nope", tmp_path / "dest")
    f = tmp_path / "data.tar"
    f.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a folder or a .zip"):
        fetch(f, tmp_path / "dest")


@pytest.fixture
def fake_kagglehub(monkeypatch, synthetic_root, tmp_path):
    """Replace kagglehub.dataset_download with a local copy of the synthetic set (no network)."""
    calls = []
    cache = copy_dataset(synthetic_root, tmp_path / "kaggle-cache" / "versions" / "1")

    def dataset_download(handle, *args, **kwargs):
        calls.append(handle)
        return str(cache.parent.parent)

    try:
        import kagglehub
    except ImportError:  # keep the test offline-capable even without the optional package
        kagglehub = types.ModuleType("kagglehub")
        monkeypatch.setitem(sys.modules, "kagglehub", kagglehub)
    monkeypatch.setattr(kagglehub, "dataset_download", dataset_download, raising=False)
    return calls


def test_fetch_downloads_with_kagglehub(fake_kagglehub, synthetic_counts, tmp_path):
    dest = tmp_path / "dest"
    assert fetch(dest=dest) == synthetic_counts
    assert fake_kagglehub == [fetchers.KAGGLE_DATASET]
    validate_layout(dest)


def test_fetch_without_source_reuses_existing_dataset(fake_kagglehub, synthetic_root, synthetic_counts, tmp_path):
    dest = copy_dataset(synthetic_root, tmp_path / "dest")
    assert fetch(dest=dest) == synthetic_counts
    assert fake_kagglehub == []  # nothing downloaded
