"""brainlib.audit on generated files whose right answer is known: exact and near duplicates across and within
splits, the leak-free Testing subset (and its file), near-duplicate groups and the group-aware split, shortcuts.

Images are random smooth textures (no MRI); unrelated ones are checked to be far apart in pHash space.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainlib import audit, config, data, splits
from brainlib.audit import DEFAULT_THRESHOLD, hamming, near_duplicate_groups, run_audit
from brainlib.data import ImageSet
from brainlib.datasets import load_split
from brainlib.splits import train_val_split
from brainlib.synthetic import _smooth_noise

SIZE = 224
GLIOMA, MENINGIOMA, NOTUMOR, PITUITARY = config.CLASSES


# ----------------------------------------------------------------------------- generated images
def texture(seed: int, size: int = SIZE) -> np.ndarray:
    """A random multi-scale smooth texture in 15..225 (so +10 brightening never clips)."""
    rng = np.random.default_rng([7, seed])
    field = sum(w * _smooth_noise(rng, size, cells=c) for c, w in ((3, 1.0), (6, 0.7), (12, 0.5)))
    return np.clip(120 + 30 * field, 15, 225).round().astype(np.uint8)


def shifted_brighter(a: np.ndarray, dx: int = 3, dy: int = 2, add: int = 10) -> np.ndarray:
    out = a.copy()  # the uncovered edge keeps the old pixels
    out[dy:, dx:] = a[:-dy, :-dx]
    return np.clip(out.astype(int) + add, 0, 255).astype(np.uint8)


def save(arr: np.ndarray, path: Path, mode: str = "L", **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).convert(mode).save(path, **kw)
    return path


def jpeg_reencoded(src: Path, dest: Path, quality: int = 70) -> Path:
    with Image.open(src) as im:
        im.convert("L").save(dest, quality=quality)
    return dest


# Seeds of the distinct textures: Training bases and unrelated Testing images.
TRAIN_SEEDS = {"g0": 0, "g1": 1, "m0": 2, "m1": 3, "n0": 4, "n1": 5, "p0": 6, "p1": 7}
UNRELATED_SEEDS = {"u0": 20, "u1": 21, "u2": 22, "u3": 23}

# Testing file → what it is
EXACT = {f"Testing/{GLIOMA}/exact_g0.png", f"Testing/{PITUITARY}/exact_g1.jpg"}
NEAR_ONLY = {f"Testing/{MENINGIOMA}/jpeg70_m1.jpg", f"Testing/{NOTUMOR}/shifted_n1.png"}
UNRELATED = {
    f"Testing/{GLIOMA}/u0.png",
    f"Testing/{MENINGIOMA}/u1.png",
    f"Testing/{NOTUMOR}/u2.jpg",
    f"Testing/{PITUITARY}/u3.png",
}


@pytest.fixture(scope="module")
def audit_root(tmp_path_factory) -> Path:
    """A dataset whose duplicates are known.

    Training: glioma g0 (RGB-mode PNG), g1 (JPEG), g2 = byte copy of meningioma m0 (exact duplicate with a
    label conflict); meningioma m0, m1; notumor n0, n0_copy (exact duplicate, same class), n1; pituitary p0,
    p0_shifted (near duplicate within Training), p1.
    Testing: an L-mode PNG of g0's pixels (pixel-identical), a JPEG-70 re-encoding of m1, a shifted and
    brightened n1, a byte copy of glioma g1 filed under pituitary (exact + label conflict), and one unrelated
    image per class.
    """
    root = tmp_path_factory.mktemp("audit_data")
    for split in config.SPLITS:
        for c in config.CLASSES:
            (root / split / c).mkdir(parents=True)
    img = {k: texture(s) for k, s in {**TRAIN_SEEDS, **UNRELATED_SEEDS}.items()}
    tr, te = root / "Training", root / "Testing"
    save(img["g0"], tr / GLIOMA / "g0.png", mode="RGB")
    save(img["g1"], tr / GLIOMA / "g1.jpg", quality=95)
    save(img["m0"], tr / MENINGIOMA / "m0.png")
    shutil.copy(tr / MENINGIOMA / "m0.png", tr / GLIOMA / "g2_copy_of_m0.png")
    save(img["m1"], tr / MENINGIOMA / "m1.png")
    save(img["n0"], tr / NOTUMOR / "n0.png")
    shutil.copy(tr / NOTUMOR / "n0.png", tr / NOTUMOR / "n0_copy.png")
    save(img["n1"], tr / NOTUMOR / "n1.png")
    save(img["p0"], tr / PITUITARY / "p0.png")
    save(shifted_brighter(img["p0"]), tr / PITUITARY / "p0_shifted.png")
    save(img["p1"], tr / PITUITARY / "p1.png")

    save(img["g0"], te / GLIOMA / "exact_g0.png", mode="L")
    jpeg_reencoded(tr / MENINGIOMA / "m1.png", te / MENINGIOMA / "jpeg70_m1.jpg")
    save(shifted_brighter(img["n1"], dx=2, dy=3), te / NOTUMOR / "shifted_n1.png")
    shutil.copy(tr / GLIOMA / "g1.jpg", te / PITUITARY / "exact_g1.jpg")
    save(img["u0"], te / GLIOMA / "u0.png")
    save(img["u1"], te / MENINGIOMA / "u1.png")
    save(img["u2"], te / NOTUMOR / "u2.jpg", quality=90)
    save(img["u3"], te / PITUITARY / "u3.png")
    return root


@pytest.fixture(scope="module")
def report(audit_root, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINLIB_CACHE_DIR", str(tmp_path_factory.mktemp("audit_cache")))
        return run_audit(audit_root)


def by_path(report, mask) -> set[str]:
    return {p for p, m in zip(report.test.paths, mask) if m}


# ----------------------------------------------------------------------------- premises of the fixture
def test_fixture_premises(audit_root):
    train = load_split("Training", SIZE, audit_root, use_cache=False)
    test = load_split("Testing", SIZE, audit_root, use_cache=False)
    # the RGB-mode and the L-mode PNG decode to the same pixels
    assert np.array_equal(
        train.images[train.paths.index(f"Training/{GLIOMA}/g0.png")],
        test.images[test.paths.index(f"Testing/{GLIOMA}/exact_g0.png")],
    )
    with (
        Image.open(audit_root / "Training" / GLIOMA / "g0.png") as a,
        Image.open(audit_root / "Testing" / GLIOMA / "exact_g0.png") as b,
    ):
        assert (a.mode, b.mode) == ("RGB", "L")
    # all distinct textures are far apart: every unrelated pair is above the threshold
    distinct = np.stack([texture(s) for s in [*TRAIN_SEEDS.values(), *UNRELATED_SEEDS.values()]])
    h = audit.perceptual_hashes(distinct)
    d = hamming(h, h)
    off_diagonal = d[~np.eye(len(h), dtype=bool)]
    assert off_diagonal.min() > DEFAULT_THRESHOLD, off_diagonal.min()


# ----------------------------------------------------------------------------- cross-split duplicates
def test_exact_cross_only_pixel_identical_copies(report):
    assert by_path(report, report.exact_cross) == EXACT


def test_near_cross_copies_but_not_unrelated(report):
    assert by_path(report, report.near_cross) == EXACT | NEAR_ONLY
    dist = dict(zip(report.test.paths, report.nearest_distance.tolist()))
    for p in EXACT:
        assert dist[p] == 0, p
    for p in NEAR_ONLY:
        assert dist[p] <= DEFAULT_THRESHOLD, (p, dist[p])
    for p in UNRELATED:
        assert dist[p] > DEFAULT_THRESHOLD, (p, dist[p])


def test_nearest_training_image_is_the_source(report):
    pairs = report.pairs().set_index("test_path")
    expected = {
        f"Testing/{GLIOMA}/exact_g0.png": f"Training/{GLIOMA}/g0.png",
        f"Testing/{PITUITARY}/exact_g1.jpg": f"Training/{GLIOMA}/g1.jpg",
        f"Testing/{MENINGIOMA}/jpeg70_m1.jpg": f"Training/{MENINGIOMA}/m1.png",
        f"Testing/{NOTUMOR}/shifted_n1.png": f"Training/{NOTUMOR}/n1.png",
    }
    for test_path, train_path in expected.items():
        assert pairs.loc[test_path, "train_path"] == train_path
    assert pairs.loc[f"Testing/{PITUITARY}/exact_g1.jpg", "train_label"] == GLIOMA
    assert bool(pairs.loc[f"Testing/{GLIOMA}/exact_g0.png", "exact"])
    assert not pairs.loc[f"Testing/{MENINGIOMA}/jpeg70_m1.jpg", "exact"]


def test_leak_free_is_exactly_the_unrelated_images(report):
    assert set(report.leak_free_paths()) == UNRELATED
    assert by_path(report, report.leak_free) == UNRELATED


def test_summary_counts(report):
    s = report.summary()
    for key in ("exact_cross_test_images", "near_cross_test_images", "leak_free_test_images", "threshold", "per_class"):
        assert key in s
    assert s["threshold"] == DEFAULT_THRESHOLD
    assert s["training_images"] == 11 and s["testing_images"] == 8
    assert s["exact_cross_test_images"] == 2
    assert s["near_cross_test_images"] == 4
    assert s["leak_free_test_images"] == 4
    assert s["per_class"] == {
        GLIOMA: {"test_images": 2, "exact_cross": 1, "near_cross": 1, "leak_free": 1},
        MENINGIOMA: {"test_images": 2, "exact_cross": 0, "near_cross": 1, "leak_free": 1},
        NOTUMOR: {"test_images": 2, "exact_cross": 0, "near_cross": 1, "leak_free": 1},
        PITUITARY: {"test_images": 2, "exact_cross": 1, "near_cross": 1, "leak_free": 1},
    }


def test_exact_duplicates_within_splits_and_label_conflicts(report):
    s = report.summary()
    # Training: {m0, g2_copy_of_m0} (different classes) and {n0, n0_copy} (same class)
    assert s["exact_within"]["Training"] == {"groups": 2, "images": 4}
    assert s["exact_within"]["Testing"] == {"groups": 0, "images": 0}
    # one Training duplicate pair across classes, one Testing copy filed under another class than its source
    assert s["label_conflicts"] == {"Training": 1, "Testing": 0, "cross": 1}


def test_threshold_zero_keeps_only_hash_identical(audit_root, report):
    strict = run_audit(audit_root, threshold=0, train=report.train, test=report.test)
    near = by_path(strict, strict.near_cross)
    assert EXACT <= near <= EXACT | NEAR_ONLY
    assert not near & UNRELATED
    assert strict.summary()["threshold"] == 0


# ----------------------------------------------------------------------------- groups and the split
def test_training_groups_from_audit(report):
    group = dict(zip(report.train.paths, report.train_groups.tolist()))
    tr = "Training"
    assert group[f"{tr}/{PITUITARY}/p0.png"] == group[f"{tr}/{PITUITARY}/p0_shifted.png"]
    assert group[f"{tr}/{NOTUMOR}/n0.png"] == group[f"{tr}/{NOTUMOR}/n0_copy.png"]
    assert group[f"{tr}/{MENINGIOMA}/m0.png"] == group[f"{tr}/{GLIOMA}/g2_copy_of_m0.png"]
    singles = [
        f"{tr}/{GLIOMA}/g0.png",
        f"{tr}/{GLIOMA}/g1.jpg",
        f"{tr}/{MENINGIOMA}/m1.png",
        f"{tr}/{NOTUMOR}/n1.png",
        f"{tr}/{PITUITARY}/p1.png",
        f"{tr}/{PITUITARY}/p0.png",
        f"{tr}/{NOTUMOR}/n0.png",
        f"{tr}/{MENINGIOMA}/m0.png",
    ]
    assert len({group[p] for p in singles}) == len(singles)  # unrelated images: all different groups
    assert len(set(group.values())) == 8
    s = report.summary()
    assert s["training_near_duplicate_groups"] == 8
    assert s["training_images_in_groups_of_2_or_more"] == 6
    assert s["largest_training_group"] == 2


def test_training_groups_function_matches_report(report):
    groups = splits.training_groups(report.train)
    same = groups[:, None] == groups[None, :]
    assert np.array_equal(same, report.train_groups[:, None] == report.train_groups[None, :])
    small = ImageSet(
        report.train.images[:, :64, :64],
        report.train.labels,
        report.train.paths,
        report.train.root,
        report.train.fingerprint,
    )
    with pytest.raises(ValueError, match="224"):
        splits.training_groups(small)


def test_split_with_audit_groups_keeps_groups_together(report):
    labels = report.train.labels.numpy()
    groups = report.train_groups
    for seed in range(5):
        tr, va = train_val_split(labels, groups, val_fraction=0.5, seed=seed)
        assert sorted([*tr, *va]) == list(range(len(labels)))
        assert not set(groups[tr]) & set(groups[va])


def test_near_duplicate_groups_known_hashes():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, size=3, dtype=np.uint64) | np.uint64(1 << 63)

    def flip(h, bits):
        for b in bits:
            h ^= np.uint64(1) << np.uint64(b)
        return h

    a, b, c = (np.uint64(x) for x in base)
    hashes = np.array(
        [
            a,
            flip(a, [0, 1, 2]),  # 3 bits from a
            flip(a, [0, 1, 2, 10, 11, 12, 13, 14, 15]),  # 6 bits from a's copy, 9 from a: joins through the chain
            b,
            flip(b, range(20, 27)),  # 7 bits from b: beyond the threshold
            c,
        ],
        dtype=np.uint64,
    )
    d = hamming(hashes, hashes)
    assert d[0, 1] == 3 and d[1, 2] == 6 and d[0, 2] == 9 and d[3, 4] == 7
    g = near_duplicate_groups(hashes, threshold=6)
    assert g[0] == g[1] == g[2]
    assert len({g[0], g[3], g[4], g[5]}) == 4
    assert len(set(near_duplicate_groups(hashes, threshold=7))) == 3
    assert len(set(near_duplicate_groups(hashes, threshold=0))) == 6


def _random_groups(n_labels: int = 200, seed: int = 0):
    """Labels in 4 classes with near-duplicate groups of 1–4 images (each group inside one class)."""
    rng = np.random.default_rng(seed)
    labels, groups = [], []
    gid = 0
    while len(labels) < n_labels:
        size, label = int(rng.integers(1, 5)), int(rng.integers(0, 4))
        labels += [label] * size
        groups += [gid] * size
        gid += 1
    order = rng.permutation(len(labels))  # groups scattered over the index range
    return np.asarray(labels)[order], np.asarray(groups)[order]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_train_val_split_no_group_straddles(seed):
    labels, groups = _random_groups(seed=seed)
    assert len(np.unique(groups)) > 60
    tr, va = train_val_split(labels, groups, val_fraction=0.15, seed=seed)
    assert sorted([*tr, *va]) == list(range(len(labels)))
    assert not set(groups[tr]) & set(groups[va])
    assert 0.05 < len(va) / len(labels) < 0.3
    assert set(labels[va]) == {0, 1, 2, 3}


# ----------------------------------------------------------------------------- hamming
def test_hamming_known_values():
    a = np.array([0, 0xFFFFFFFFFFFFFFFF, 0b1011, 1 << 63], dtype=np.uint64)
    b = np.array([0, 0xFFFFFFFF00000000], dtype=np.uint64)
    d = hamming(a, b)
    assert d.shape == (4, 2) and d.dtype == np.uint8
    assert d.tolist() == [[0, 32], [64, 32], [3, 35], [1, 31]]
    assert hamming(b, a).tolist() == d.T.tolist()


# ----------------------------------------------------------------------------- leak-free file
def test_write_read_leak_free_round_trip(report, tmp_path):
    path = audit.write_leak_free(report, tmp_path / "sub" / "leak_free.txt")
    header, paths = audit.read_leak_free(path)
    assert header["fingerprint"] == audit.combined_fingerprint(report.train, report.test)
    assert header["threshold"] == str(DEFAULT_THRESHOLD)
    assert paths == report.leak_free_paths()
    assert sorted(p.name for p in path.parent.iterdir()) == ["leak_free.txt"]  # no temp file left
    assert audit.read_leak_free(tmp_path / "missing.txt") == ({}, [])


def test_write_leak_free_default_is_the_configured_file(report):
    path = audit.write_leak_free(report)
    assert path == config.LEAK_FREE_FILE  # redirected to tmp by conftest
    assert audit.read_leak_free()[1] == report.leak_free_paths()


def test_the_summary_counts_distinct_contents_and_clusters_and_is_saved_without_timing(report):
    import json

    s = report.summary()
    within = s["exact_within"]["Testing"]
    assert s["testing_distinct_images"] == s["testing_images"] - within["images"] + within["groups"]
    assert 1 <= s["testing_near_duplicate_clusters"] <= s["testing_distinct_images"]
    groups = audit.near_duplicate_groups(report.test_hashes, report.threshold)
    assert s["testing_near_duplicate_clusters"] == len(set(groups.tolist()))
    path = audit.write_summary(report)
    assert path == config.LEAK_FREE_FILE.parent / "audit.json"  # beside the (redirected) leak-free file
    saved = json.loads(path.read_text())
    assert "seconds" not in saved and saved == {k: v for k, v in json.loads(json.dumps(s)).items() if k != "seconds"}


def _write_subset(path: Path, fingerprint: str, threshold: int, paths: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(["# test file", f"# pixels: {fingerprint}", f"# threshold: {threshold}", *paths]) + "\n")


def test_leak_free_mask_follows_matching_file(report):
    fp = audit.content_key(report.train, report.test)
    chosen = [report.test.paths[0], report.test.paths[3]]  # deliberately NOT the audit's answer
    assert set(chosen) != UNRELATED
    _write_subset(config.LEAK_FREE_FILE, fp, DEFAULT_THRESHOLD, chosen)
    mask = audit.leak_free_mask(report.test, report.train)
    assert by_path(report, mask) == set(chosen)


def test_leak_free_mask_recomputes_on_fingerprint_or_threshold_mismatch(report, isolated_cache):
    fp = audit.content_key(report.train, report.test)
    chosen = [report.test.paths[0]]
    _write_subset(config.LEAK_FREE_FILE, "0000000000000000-0000000000000000", DEFAULT_THRESHOLD, chosen)
    mask = audit.leak_free_mask(report.test, report.train)
    assert by_path(report, mask) == UNRELATED
    # the recomputed subset is kept in the cache, the configured (committed) file is left alone
    cached = isolated_cache / f"leak_free_{fp}_t{DEFAULT_THRESHOLD}.txt"
    assert audit.read_leak_free(cached)[1] == sorted(UNRELATED, key=report.test.paths.index)
    assert audit.read_leak_free(config.LEAK_FREE_FILE)[1] == chosen
    # right fingerprint, other threshold: not used either
    _write_subset(config.LEAK_FREE_FILE, fp, DEFAULT_THRESHOLD + 1, chosen)
    assert by_path(report, audit.leak_free_mask(report.test, report.train)) == UNRELATED


def test_leak_free_mask_at_other_size(report, audit_root):
    small = load_split("Testing", 64, audit_root)
    mask = audit.leak_free_mask(small)
    assert {p for p, m in zip(small.paths, mask) if m} == UNRELATED


# ----------------------------------------------------------------------------- encoding and shortcuts
def test_encoding_invariance_generated_files(audit_root):
    files = sorted((audit_root / "Training").rglob("*.*"))[:5]
    result = audit.encoding_invariance(files)
    assert {k: result[k] for k in ("images", "identical", "max_abs_difference")} == {
        "images": 5,
        "identical": 5,
        "max_abs_difference": 0,
    }
    assert sum(result["original_modes"].values()) == 5


def test_shortcut_table_columns_and_rows(audit_root):
    table = audit.shortcut_table(audit_root)
    assert list(table.columns) == [
        "path",
        "label",
        "mode",
        "width",
        "height",
        "file_kb",
        "brightness",
        "border_brightness",
        "dark_fraction",
    ]
    assert len(table) == 11
    modes = dict(zip(table["path"], table["mode"]))
    assert modes[f"Training/{GLIOMA}/g0.png"] == "RGB"
    assert modes[f"Training/{NOTUMOR}/n0.png"] == "L"
    assert (table["width"] == SIZE).all() and (table["height"] == SIZE).all()
    assert table["brightness"].between(0, 255).all() and table["dark_fraction"].between(0, 1).all()
    assert set(table["label"]) == set(config.CLASSES)


def test_shortcut_scores_on_synthetic(synthetic_root, synthetic_counts):
    table = audit.shortcut_table(synthetic_root, max_per_class=5)
    assert len(table) == 5 * len(config.CLASSES)
    assert set(table["mode"]) == {"L"}
    scores = audit.shortcut_scores(table)
    assert list(scores.columns) == ["cue", "cv_accuracy"]
    assert scores["cue"].tolist() == [
        "majority class (baseline)",
        "file mode (L vs RGB)",
        "file size",
        "brightness",
        "border brightness",
    ]
    assert scores["cv_accuracy"].between(0, 1).all()
    assert scores["cv_accuracy"].iloc[0] == pytest.approx(0.25)  # 4 balanced classes: chance


def test_leak_free_answer_follows_files_replaced_in_place_with_same_size(audit_root, tmp_path, monkeypatch):
    """Names and sizes unchanged, pixels changed: the leak-free subset must be recomputed (issue: the cache
    used to be keyed on names and sizes only and answered with the old subset)."""
    import shutil

    monkeypatch.setenv("BRAINLIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(config, "LEAK_FREE_FILE", tmp_path / "none.txt")
    root = tmp_path / "data"
    shutil.copytree(audit_root, root)
    target = "Testing/glioma/exact_g0.png"  # a byte copy of a Training image: leaky
    test = load_split("Testing", SIZE, root)
    before = dict(zip(test.paths, audit.leak_free_mask(test)))
    assert before[target] is np.False_
    old_size = (root / target).stat().st_size
    noise = np.random.default_rng(7).integers(0, 256, (40, 40), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    new = buf.getvalue()
    assert len(new) < old_size
    (root / target).write_bytes(new + b"\0" * (old_size - len(new)))  # PNG readers ignore trailing bytes
    assert (root / target).stat().st_size == old_size
    test2 = load_split("Testing", SIZE, root)
    assert audit.combined_fingerprint(load_split("Training", SIZE, root), test2) == audit.combined_fingerprint(
        load_split("Training", SIZE, root), test
    )  # the names-and-sizes fingerprint cannot tell
    after = dict(zip(test2.paths, audit.leak_free_mask(test2)))
    assert after[target] is np.True_


def _write_pair(tmp_path):
    rng = np.random.default_rng(0)
    arr = (rng.random((48, 48)) * 255).astype(np.uint8)
    gray, rgb = tmp_path / "gray.png", tmp_path / "rgb.png"
    Image.fromarray(arr).save(gray)
    Image.fromarray(np.stack([arr] * 3, -1)).save(rgb)
    return [gray, rgb]


def test_encoding_check_passes_for_the_real_decoder(tmp_path):
    result = audit.encoding_invariance(_write_pair(tmp_path), size=48)
    assert result["identical"] == 2 and result["original_modes"] == {"L": 1, "RGB": 1}


def test_encoding_check_catches_a_planted_shortcut(tmp_path, monkeypatch):
    real = data.to_grayscale

    def leaky(im):  # a decoder that lets the file's mode through: RGB files come out one level brighter
        out = real(im)
        if im.mode == "RGB":
            out = Image.fromarray(np.minimum(np.asarray(out).astype(int) + 1, 255).astype(np.uint8))
        return out

    monkeypatch.setattr(data, "to_grayscale", leaky)
    result = audit.encoding_invariance(_write_pair(tmp_path), size=48)
    assert result["identical"] == 0 and result["max_abs_difference"] == 1


def test_ct_likeness_separates_a_bright_ring_from_a_dark_skull():
    yy, xx = np.mgrid[:96, :96]
    r = np.hypot(yy - 48, xx - 48)
    ct = np.where(r < 40, 100, 0).astype(np.uint8)
    ct[(r >= 34) & (r < 40)] = 255  # saturated skull ring around mid-gray brain
    mri = np.where(r < 40, 90, 0).astype(np.uint8)
    mri[(r >= 36) & (r < 40)] = 140  # scalp, not saturated
    mri[(r < 10)] = 250  # a bright lesion inside
    scores = audit.ct_likeness(np.stack([ct, mri]))
    assert scores[0] > audit.CT_THRESHOLD > scores[1]
