"""Caches that heal and fetches that lose nothing: corrupt caches are rebuilt with a warning naming the file,
hashes follow the pixels, broken links are skipped and counted, fetch never deletes what it did not create."""

from __future__ import annotations

import os
import shutil
import warnings

import numpy as np
import pytest

from brainlib import audit, config, data, datasets, fetchers
from brainlib.data import DataError


@pytest.fixture
def root(synthetic_root, tmp_path):
    return shutil.copytree(synthetic_root, tmp_path / "data")


def test_truncated_image_cache_is_rebuilt_with_a_warning(root):
    first = datasets.load_split("Training", 32, root)
    (cache_file,) = config.cache_dir().glob("Training_32_*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:200])
    with pytest.warns(UserWarning, match=f"image cache {cache_file}.*rebuilding"):
        again = datasets.load_split("Training", 32, root)
    assert np.array_equal(first.images.numpy(), again.images.numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        datasets.load_split("Training", 32, root)  # healed: no warning now


def test_truncated_hash_cache_is_rebuilt(root):
    train = datasets.load_split("Training", 224, root)
    first = audit.imageset_hashes(train)
    (cache,) = config.cache_dir().glob("phash_*.npy")
    cache.write_bytes(cache.read_bytes()[:20])
    with pytest.warns(UserWarning, match="hash cache .* rebuilding"):
        assert np.array_equal(audit.imageset_hashes(train), first)


def test_hashes_follow_pixels_not_names_and_sizes(root):
    train = datasets.load_split("Training", 224, root)
    before = audit.imageset_hashes(train)
    swapped = train.subset(np.arange(len(train)))
    swapped.images[0] = swapped.images[-1]  # same paths, same file sizes recorded: other pixels
    after = audit.imageset_hashes(swapped)
    assert after[0] == before[-1]


def test_broken_symlinks_are_skipped_and_counted(root):
    folder = root / "Training" / "glioma"
    os.symlink(folder / "missing.jpg", folder / "dangling.jpg")
    os.symlink(folder / "loop.jpg", folder / "loop.jpg")
    with pytest.warns(UserWarning, match="2 broken link"):
        scan = data.scan_split(root, "Training")
    assert scan.skipped["broken link"] == 2
    assert not any("dangling" in p or "loop" in p for p in scan.paths)


def test_fetch_keeps_a_sibling_partial_folder_it_did_not_create(root, tmp_path):
    theirs = tmp_path / "out" / "ds.partial"
    theirs.mkdir(parents=True)
    (theirs / "keep.txt").write_text("mine")
    fetchers.fetch_kaggle(root, tmp_path / "out" / "ds")
    assert (theirs / "keep.txt").read_text() == "mine"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".ds.")]  # no leftovers


def test_fetch_refuses_a_destination_inside_the_source(root):
    with pytest.raises(DataError, match="inside the source"):
        fetchers.fetch_kaggle(root, root / "copy")
    assert not (root / "copy").exists()


def test_fetch_to_a_file_is_bad_input(root, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DataError, match="is a file"):
        fetchers.fetch_kaggle(root, target)
