"""Dataset registry, the figshare/TCGA fetchers (on local fixtures), patient-level cross-validation with its
cache, the pointing game, and the external-shift report — all on SYNTHETIC stand-ins of the layouts."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from brainlib import cli, config, crossval, datasets, engine, explain, external, fetchers, recipes
from brainlib.data import DataError, safe_extract
from brainlib.synthetic import write_synthetic_figshare, write_synthetic_tcga

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def figshare_root(tmp_path_factory):
    return write_synthetic_figshare(tmp_path_factory.mktemp("figshare"), per_class_per_fold=2, size=64)


@pytest.fixture(scope="module")
def tcga_root(tmp_path_factory):
    root = write_synthetic_tcga(tmp_path_factory.mktemp("tcga"), patients=4, size=64)
    # the release repeats FLAIR where a sequence is missing: imitate that for one patient
    for kind, n in (("tumor", 20), ("no_tumor_slice", 8)):
        (root / "postcontrast" / kind / f"SYNTH_00_{n}.png").write_bytes(
            (root / "flair" / kind / f"SYNTH_00_{n}.png").read_bytes()
        )
    return root


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


# ----------------------------------------------------------------------------- registry and layouts
def test_registry_lists_the_three_datasets_with_env_vars():
    assert set(datasets.DATASETS) == {"brain-tumor-mri", "figshare-cheng", "tcga-lgg"}
    assert datasets.get("brain-tumor-mri").env_var == "BRAINLIB_DATA_DIR"
    with pytest.raises(DataError, match="unknown dataset"):
        datasets.get("mnist")


def test_root_from_env_and_override(monkeypatch, tmp_path):
    spec = datasets.get("figshare-cheng")
    monkeypatch.setenv("BRAINLIB_FIGSHARE_DIR", str(tmp_path / "a"))
    assert spec.root() == tmp_path / "a"
    assert spec.root(tmp_path / "b") == tmp_path / "b"
    monkeypatch.delenv("BRAINLIB_FIGSHARE_DIR")
    assert spec.root() == config.PROJ_ROOT / "data" / "figshare-cheng"


def test_figshare_index_and_load(figshare_root):
    table = datasets.get("figshare-cheng").table(figshare_root)
    assert len(table) == 30 and sorted(table["fold"].unique()) == [1, 2, 3, 4, 5]
    assert {"x_center", "width", "index"} <= set(table.columns)
    data = datasets.load("figshare-cheng", 32, figshare_root)
    assert data.images.images.shape == (30, 32, 32)
    assert [datasets.FIGSHARE_CLASSES[y] for y in data.images.labels.tolist()] == list(data.table["label"])


def test_figshare_missing_images_are_skipped_with_a_warning(figshare_root, tmp_path):
    import shutil

    root = shutil.copytree(figshare_root, tmp_path / "copy")
    (root / "images" / "glioma" / "1.jpg").unlink()
    with pytest.warns(UserWarning, match="1 images listed in folds.csv are missing"):
        table = datasets.get("figshare-cheng").table(root)
    assert len(table) == 29


@pytest.mark.parametrize("breakage", ["no_images", "no_folds", "bad_columns", "unknown_class", "missing_folder"])
def test_figshare_wrong_layout_is_a_one_line_error(figshare_root, tmp_path, breakage):
    import shutil

    root = shutil.copytree(figshare_root, tmp_path / "copy")
    if breakage == "no_images":
        shutil.rmtree(root / "images")
    elif breakage == "no_folds":
        (root / "folds.csv").unlink()
    elif breakage == "bad_columns":
        (root / "folds.csv").write_text("a,b\n1,2\n")
    elif breakage == "unknown_class":
        (root / "images" / "glioma").rename(root / "images" / "astrocytoma")
        t = pd.read_csv(root / "folds.csv")
        t.loc[t["label"] == "glioma", "label"] = "astrocytoma"
        t.to_csv(root / "folds.csv", index=False)
    else:
        root = tmp_path / "nothing"
    with pytest.raises(DataError) as e:
        datasets.get("figshare-cheng").table(root)
    assert "\n" not in str(e.value)


def test_tcga_index_and_repeated_flair(tcga_root):
    table = datasets.get("tcga-lgg").table(tcga_root)
    assert len(table) == 4 * 2 * 3 and set(table["sequence"]) == set(datasets.TCGA_SEQUENCES)
    data = datasets.load("tcga-lgg", 32, tcga_root)
    repeats = external.repeats_other_sequence(data)
    flagged = data.table[repeats]
    assert set(flagged["sequence"]) == {"postcontrast"} and set(flagged["patient"]) == {"SYNTH_00"}


def test_content_fingerprint_sees_same_size_replacements(figshare_root, tmp_path):
    import shutil

    root = shutil.copytree(figshare_root, tmp_path / "copy")
    paths = list(datasets.get("figshare-cheng").table(root)["path"])
    before = datasets.content_fingerprint(root, paths)
    f = root / paths[0]
    raw = bytearray(f.read_bytes())
    raw[-3] ^= 0xFF  # same size, other bytes
    f.write_bytes(bytes(raw))
    assert datasets.content_fingerprint(root, paths) != before


# ----------------------------------------------------------------------------- pointing game
def test_pointing_hits_and_energy():
    maps = np.zeros((2, 10, 10))
    maps[0, 2, 2] = 1.0  # peak inside
    maps[1, 8, 8] = 1.0  # peak outside
    maps[1, 2, 3] = 0.5
    masks = np.zeros((2, 10, 10), bool)
    masks[:, 1:4, 1:4] = True
    hit, energy = explain.pointing(maps, masks)
    assert hit.tolist() == [True, False]
    assert energy == pytest.approx([1.0, 0.5 / 1.5])


def test_peaks_and_distance_to_box():
    maps = np.zeros((1, 4, 8))
    maps[0, 1, 6] = 1
    assert explain.peaks(maps).tolist() == [[1.5 / 4, 6.5 / 8]]
    boxes = np.array([[0.5, 0.5, 0.2, 0.2]] * 3)  # x 0.4-0.6, y 0.4-0.6
    points = np.array([[0.5, 0.5], [0.5, 0.7], [0.9, 0.9]])  # inside, 0.1 right, (0.3, 0.3) diagonal
    assert explain.distance_to_box(points, boxes) == pytest.approx([0, 0.1, np.hypot(0.3, 0.3)])


def test_gradcam_stages_of_both_models():
    from brainlib import explain
    from brainlib.models import build_model

    fast, seed = build_model("fastnet"), build_model("seed")
    assert explain.cam_grid(fast, -1, 160) == 5 and explain.cam_grid(fast, -2, 160) == 10
    assert explain.cam_grid(seed, -1, 224) == 112 and explain.cam_grid(seed, -2, 224) == 224
    assert explain.target_layer(seed, -2) is not explain.target_layer(seed, -1)


def test_box_masks_and_centred_prior():
    table = pd.DataFrame({"x_center": [0.5], "y_center": [0.25], "width": [0.5], "height": [0.5]})
    m = explain.box_masks(table, 8)[0]
    assert m.sum() == 16 and m[0:4, 2:6].all()
    prior = explain.centred_prior(9)
    assert np.unravel_index(prior.argmax(), prior.shape) == (4, 4)


def test_fold_plan_validation_is_the_next_fold():
    assert crossval.fold_plan([1, 2, 3, 4, 5], 5) == ([2, 3, 4], 1)
    assert crossval.fold_plan([1, 2, 3, 4, 5], 2) == ([1, 4, 5], 3)
    with pytest.raises(ValueError):
        crossval.fold_plan([1, 2, 3], 4)


def test_summary_interval_is_over_folds():
    recs = [
        {
            "model": "m",
            "dataset": "d",
            "fold": k,
            "n": 10,
            "accuracy": a,
            "macro_f1": a,
            "val_fold": 1,
            "best_epoch": 1,
            "val_acc": 0.5,
            "per_class_recall": {},
            "confusion_matrix": [[int(10 * a), 10 - int(10 * a)], [0, 0]],
            "train_seconds": 1.0,
            "wall_seconds": 1.0,
            "classes": ["a", "b"],
        }
        for k, a in enumerate([0.8, 0.9, 1.0], 1)
    ]
    s = crossval.summarize(recs)
    from scipy import stats

    half = stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert s["mean_accuracy"] == pytest.approx(0.9) and s["std_accuracy"] == pytest.approx(0.1)
    assert s["accuracy_ci95"] == pytest.approx([0.9 - half, 0.9 + half])
    assert s["pooled_confusion_matrix"] == [[27, 3], [0, 0]]


# ----------------------------------------------------------------------------- cross-validation
def test_crossval_trains_caches_and_reuses(figshare_root, tmp_path, monkeypatch):
    profile = config.get_profile("smoke")
    cache = tmp_path / "cv"
    first = crossval.run_crossval(
        "figshare-cheng", "robust", [1, 2], root=figshare_root, profile=profile, cache_dir=cache, progress=False
    )
    assert [r["fold"] for r in first] == [1, 2] and all(r.get("trained_now") for r in first)
    for r in first:
        assert r["val_fold"] not in (r["fold"], *r["train_folds"])
        assert r["n"] == len(r["labels"]) == len(r["pointing"]["peak"]) == len(r["pointing"]["energy_fine"])
    assert len(list((cache / "smoke" / "patient-kfold-figshare-cheng").glob("robust-fold*.json"))) == 2

    def no_training(*a, **k):
        raise AssertionError("a cached fold was retrained")

    monkeypatch.setattr(engine, "train", no_training)
    again = crossval.run_crossval(
        "figshare-cheng", "robust", [1, 2], root=figshare_root, profile=profile, cache_dir=cache, progress=False
    )
    assert [r["accuracy"] for r in again] == [r["accuracy"] for r in first]
    assert not any(r.get("trained_now") for r in again)


def test_crossval_cache_key_follows_recipe_and_data(figshare_root, tmp_path):
    profile = config.get_profile("smoke")
    table = crossval._subsample(datasets.get("figshare-cheng").table(figshare_root), profile)
    fp = datasets.content_fingerprint(figshare_root, list(table["path"]))
    a = crossval.cv_recipe("robust", 3)
    key = crossval._run_key(a, "figshare-cheng", fp, table, 1, profile)
    assert crossval._run_key(crossval.cv_recipe("seed", 3), "figshare-cheng", fp, table, 1, profile) != key
    assert crossval._run_key(a, "figshare-cheng", "other", table, 1, profile) != key
    assert crossval._run_key(a, "figshare-cheng", fp, table, 2, profile) != key


def test_crossval_trains_a_given_recipe(figshare_root, tmp_path):
    profile = config.get_profile("smoke")
    cfg = recipes.train_config("fast", augment="mri", model_kwargs={"input_size": 64})
    recs = crossval.run_crossval(
        "figshare-cheng",
        "variant",
        [2],
        root=figshare_root,
        profile=profile,
        cache_dir=tmp_path,
        cfg=cfg,
        progress=False,
    )
    assert recs[0]["config"]["augment"] == "mri"
    assert recs[0]["config"]["model_kwargs"] == {"input_size": 64, "num_classes": 3}
    assert np.asarray(recs[0]["probabilities"]).shape[1] == 3
    assert len(list((tmp_path / "smoke" / "patient-kfold-figshare-cheng").glob("variant-fold2-*.json"))) == 1


def test_crossval_seed_model_has_three_outputs(figshare_root, tmp_path):
    recs = crossval.run_crossval(
        "figshare-cheng",
        "seed",
        [3],
        root=figshare_root,
        profile=config.get_profile("smoke"),
        cache_dir=tmp_path,
        progress=False,
    )
    assert recs[0]["config"]["model"] == "seed" and np.asarray(recs[0]["probabilities"]).shape[1] == 3


def test_cli_crossval_json(figshare_root, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIB_PROFILE", "smoke")
    monkeypatch.setattr(config, "RESULTS_DIR", tmp_path / "results")
    rc, out, err = run_main(["crossval", "--data", str(figshare_root), "--folds", "1,2", "--json"])
    assert rc == 0, err
    result = json.loads(out)
    assert result["recipe"] == "robust" and result["trained_now"] == 2
    assert [f["fold"] for f in result["folds"]] == [1, 2]
    assert {"n", "accuracy", "macro_f1"} <= set(result["folds"][0])
    assert {"mean_accuracy", "std_accuracy", "pointing_game"} <= set(result)
    rc, out, _ = run_main(["crossval", "--data", str(figshare_root), "--folds", "1,2", "--json"])
    assert rc == 0 and json.loads(out)["trained_now"] == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--folds", "9"], "no fold"),
        (["--model", "bogus"], "unknown model"),
        (["--dataset", "tcga-lgg"], "no patient-level folds"),
        (["--dataset", "nope"], "unknown dataset"),
    ],
)
def test_cli_crossval_bad_input_exits_2(figshare_root, tcga_root, tmp_path, monkeypatch, argv, message):
    monkeypatch.setenv("BRAINLIB_PROFILE", "smoke")
    monkeypatch.setenv("BRAINLIB_TCGA_DIR", str(tcga_root))
    rc, out, err = run_main(["crossval", "--data", str(figshare_root), *argv])
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_crossval_missing_folder_exits_2(tmp_path):
    rc, _, err = run_main(["crossval", "--data", str(tmp_path / "none")])
    assert rc == 2 and "does not exist" in err


# ----------------------------------------------------------------------------- external shift
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """An untrained FastNet saved as a brainlib checkpoint (the report's plumbing, not its numbers)."""
    config.seed_everything(0)
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 32})
    model = engine.build_model(cfg.model, **cfg.model_kwargs)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    engine.atomic_save(engine.checkpoint_dict(model, cfg, tta=True), path)
    return path


def test_external_report(tcga_root, tiny_checkpoint):
    preds = external.predict_external(tiny_checkpoint, root=tcga_root)
    t = preds.table
    assert np.allclose(t[[f"p_{c}" for c in config.CLASSES]].sum(1), 1, atol=1e-5)
    assert np.allclose(t["p_tumor"], 1 - t["p_notumor"])
    table = external.auroc_by_sequence(t, n_boot=50)
    assert list(table.index) == list(datasets.TCGA_SEQUENCES)
    assert table.loc["flair", "patients"] == 4 and table.loc["postcontrast", "patients"] == 3  # repeat dropped
    assert ((table["AUROC"] >= 0) & (table["AUROC"] <= 1)).all()
    dist = external.predicted_distribution(t)
    assert dist.to_numpy().sum() == len(t) - t["repeats_flair"].sum()
    pg = external.mask_pointing(preds)
    assert pg.loc["flair", "tumor slices"] == 4 and 0 <= pg.loc["flair", "Grad-CAM hit rate"] <= 1


def test_patient_bootstrap_resamples_patients():
    t = pd.DataFrame(
        {"patient": ["a", "a", "b", "b", "c", "c"], "tumor": [1, 0] * 3, "p_tumor": [0.9, 0.1, 0.8, 0.2, 0.4, 0.6]}
    )
    auc, lo, hi = external.patient_bootstrap_auroc(t, n_boot=200)
    assert auc == pytest.approx(8 / 9) and lo <= auc <= hi


# ----------------------------------------------------------------------------- fetch
def _write_mat(path: Path, image: np.ndarray, label: int, pid: str, mask: np.ndarray) -> None:
    import h5py

    with h5py.File(path, "w") as f:  # the v7.3 layout: HDF5, column-major arrays
        g = f.create_group("cjdata")
        g["image"] = image.T.astype(np.int16)
        g["label"] = np.array([[label]], dtype=np.float64)
        g["PID"] = np.array([[ord(c)] for c in pid], dtype=np.uint16)
        g["tumorMask"] = mask.T.astype(np.uint8)


@pytest.fixture(scope="module")
def figshare_article(tmp_path_factory):
    """The figshare article's files in miniature: two zips of .mat slices and cvind.mat."""
    from scipy.io import savemat

    base = tmp_path_factory.mktemp("article")
    mats = tmp_path_factory.mktemp("mats")
    rng = np.random.default_rng(0)
    labels = [1, 2, 3, 2, 1, 3]
    for i, label in enumerate(labels, 1):
        mask = np.zeros((40, 40), bool)
        mask[10:20, 5:15] = True  # rows 10-19, columns 5-14
        _write_mat(mats / f"{i}.mat", rng.integers(0, 900, (40, 40)), label, f"P{i % 3}", mask)
    for name, members in (("brainTumorDataPublic_1-3.zip", [1, 2, 3]), ("brainTumorDataPublic_4-6.zip", [4, 5, 6])):
        with zipfile.ZipFile(base / name, "w") as zf:
            for m in members:
                zf.write(mats / f"{m}.mat", f"{m}.mat")
    savemat(base / "cvind.mat", {"cvind": np.array([[1], [2], [3], [4], [5], [1]])})
    return base


def test_convert_figshare_from_the_article_files(figshare_article, tmp_path):
    out = fetchers.fetch_figshare(figshare_article, tmp_path / "fs")
    table = datasets.get("figshare-cheng").table(out)
    assert len(table) == 6 and table.set_index("index").loc[2, "label"] == "glioma"
    assert table.set_index("index")["fold"].tolist() == [1, 2, 3, 4, 5, 1]
    box = table.set_index("index").loc[1, ["x_center", "y_center", "width", "height"]].tolist()
    assert box == pytest.approx([10 / 40, 15 / 40, 10 / 40, 10 / 40])
    assert pd.read_csv(out / "patients.csv")["patient"].tolist()[:3] == ["P1", "P2", "P0"]
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_folder(tmp_path):
    """Serve a folder over HTTP on localhost; yields (folder, base URL)."""
    folder = tmp_path / "www"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_figshare_download_through_the_api(figshare_article, http_folder, tmp_path, monkeypatch):
    folder, url = http_folder
    listing = []
    for f in sorted(figshare_article.iterdir()):
        (folder / "files").mkdir(exist_ok=True)
        (folder / "files" / f.name).write_bytes(f.read_bytes())
        listing.append(
            {
                "name": f.name,
                "download_url": f"{url}/files/{f.name}",
                "computed_md5": hashlib.md5(f.read_bytes()).hexdigest(),
            }
        )
    api = folder / "articles" / str(fetchers.FIGSHARE_ARTICLE)
    api.mkdir(parents=True)
    (api / "files").write_text(json.dumps(listing))
    monkeypatch.setenv("BRAINLIB_FIGSHARE_API", url)
    rc, out, err = run_main(["fetch", "--dataset", "figshare-cheng", "--dest", str(tmp_path / "fs")])
    assert rc == 0, err
    assert "6 images, 5 folds" in out


def test_figshare_download_with_wrong_md5_fails_cleanly(figshare_article, http_folder, tmp_path, monkeypatch):
    folder, url = http_folder
    (folder / "cvind.mat").write_bytes((figshare_article / "cvind.mat").read_bytes())
    api = folder / "articles" / str(fetchers.FIGSHARE_ARTICLE)
    api.mkdir(parents=True)
    (api / "files").write_text(
        json.dumps([{"name": "cvind.mat", "download_url": f"{url}/cvind.mat", "computed_md5": "0" * 32}])
    )
    monkeypatch.setenv("BRAINLIB_FIGSHARE_API", url)
    rc, _, err = run_main(["fetch", "--dataset", "figshare-cheng", "--dest", str(tmp_path / "fs")])
    assert rc == 2 and "MD5" in err
    assert not (tmp_path / "fs").exists() and [p.name for p in tmp_path.iterdir()] == ["www"]  # nothing left


def test_fetch_figshare_copies_a_ready_layout_and_refuses_a_full_dest(figshare_root, tmp_path):
    out = fetchers.fetch_figshare(figshare_root, tmp_path / "fs")
    assert len(datasets.get("figshare-cheng").table(out)) == 30
    with pytest.raises(DataError, match="not an empty folder"):
        fetchers.fetch_figshare(figshare_root, tmp_path / "fs")


def _write_kaggle_3m(root: Path, cases: int = 2, slices: int = 12) -> Path:
    rng = np.random.default_rng(1)
    for c in range(cases):
        case = f"TCGA_XX_{c:04d}_20000101"
        folder = root / "kaggle_3m" / case
        folder.mkdir(parents=True)
        for n in range(1, slices + 1):
            rgb = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            rgb[..., 1] = 0
            rgb[: 2 * n, :, 1] = 100  # FLAIR channel: later slices have "more brain"
            Image.fromarray(rgb).save(folder / f"{case}_{n}.tif")
            mask = np.zeros((32, 32), np.uint8)
            if n in (3, 4):
                mask[5 : 5 + n, 5:10] = 255  # slice 4 has the larger tumor
            Image.fromarray(mask).save(folder / f"{case}_{n}_mask.tif")
    return root


def test_convert_tcga_from_the_kaggle_release(tmp_path):
    src = _write_kaggle_3m(tmp_path / "src")
    with zipfile.ZipFile(tmp_path / "lgg.zip", "w") as zf:
        for f in src.rglob("*.tif"):
            zf.write(f, f.relative_to(src).as_posix())
    rc, out, err = run_main(
        ["fetch", "--dataset", "tcga-lgg", "--from", str(tmp_path / "lgg.zip"), "--dest", str(tmp_path / "tcga")]
    )
    assert rc == 0, err
    slices = pd.read_csv(tmp_path / "tcga" / "slices.csv")
    assert slices.groupby("kind")["slice"].apply(list).to_dict() == {"no_tumor_slice": [12, 12], "tumor": [4, 4]}
    flair = np.asarray(Image.open(next((tmp_path / "tcga" / "flair" / "tumor").iterdir())))
    assert flair.shape == (224, 224) and abs(flair.mean() - 25) <= 2  # the FLAIR channel: 8 of 32 rows at 100


def test_choose_slices():
    assert fetchers.choose_slices({1: 0, 2: 5, 3: 9, 9: 0, 10: 0}, {1: 50, 2: 0, 3: 0, 9: 70, 10: 60}) == (3, 9)
    assert fetchers.choose_slices({1: 0, 2: 0}, {1: 1, 2: 1}) is None
    assert fetchers.choose_slices({1: 3, 2: 0}, {1: 1, 2: 1}) is None  # no tumor-free slice 6 away


def test_tcga_wrong_layout_is_a_clear_error(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "readme.txt").write_text("hi")
    rc, _, err = run_main(
        ["fetch", "--dataset", "tcga-lgg", "--from", str(tmp_path / "src"), "--dest", str(tmp_path / "out")]
    )
    assert rc == 2 and "no LGG segmentation slices" in err and not (tmp_path / "out").exists()


def test_safe_extract_refuses_bombs_and_symlinks(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * (8 << 20))
    with pytest.raises(DataError, match="zip bomb"):
        safe_extract(bomb, tmp_path / "x")
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("evil")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        safe_extract(link, tmp_path / "y")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_checkpoint_classes_unchanged_by_three_class_heads():
    model = engine.build_model("fastnet", num_classes=3)
    assert model(torch.zeros(1, 1, 160, 160)).shape == (1, 3)
