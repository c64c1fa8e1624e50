"""brainlib.fetchers: figshare (API download, MD5, .mat conversion), TCGA-LGG (release conversion), zip safety."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_cli_contract import run_main  # cli.main with stdout and stderr captured

from brainlib import datasets, fetchers
from brainlib.data import DataError, safe_extract

pytestmark = pytest.mark.usefixtures("single_torch_thread")


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


def _zip_with(path: Path, entries: dict[str, bytes]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, payload in entries.items():
            zf.writestr(name, payload)
    return path


def test_fetch_refuses_a_crc_corrupt_zip_and_leaves_nothing(tmp_path):
    archive = _zip_with(tmp_path / "data.zip", {"Training/glioma/a.jpg": b"x" * 4000})
    raw = bytearray(archive.read_bytes())
    start = raw.index(b"x" * 100)
    raw[start + 10 : start + 20] = b"y" * 10  # payload changed, CRC not: a corrupt download
    archive.write_bytes(bytes(raw))
    rc, out, err = run_main(["fetch", "--from", str(archive), "--dest", str(tmp_path / "dest")])
    assert rc == 2 and err.count("\n") == 1 and "corrupt" in err.lower(), err
    assert not (tmp_path / "dest").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.zip"]  # no staging folder left behind


@pytest.mark.parametrize(
    "entries, limit, message",
    [
        ({"../escape.jpg": b"x"}, None, "points outside the folder"),
        ({"Training/glioma/a.jpg": b"x" * 5000, "Training/glioma/b.jpg": b"x" * 5000}, 8000, "would expand to"),
    ],
)
def test_fetch_zip_guard(tmp_path, monkeypatch, entries, limit, message):
    from brainlib import data

    if limit:
        monkeypatch.setattr(data, "MAX_UNZIPPED_BYTES", limit)
    archive = _zip_with(tmp_path / "data.zip", entries)
    rc, out, err = run_main(["fetch", "--from", str(archive), "--dest", str(tmp_path / "dest")])
    assert rc == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "dest").exists() and not (tmp_path.parent / "escape.jpg").exists()
