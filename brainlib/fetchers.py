"""Getting each dataset into the layout :mod:`brainlib.datasets` reads: one registered fetcher per dataset
(:data:`FETCHERS`), all called the same way by ``brainlib fetch --dataset NAME [--from PATH] [--dest DIR]``.

- ``brain-tumor-mri``: the Kaggle release (masoudnickparvar/brain-tumor-mri-dataset) through kagglehub, or a
  zip/folder holding ``Training/`` and ``Testing/``.
- ``figshare-cheng``: the public figshare article 1512427 (four zips of MATLAB v7.3 ``<index>.mat`` files
  and ``cvind.mat`` with the authors' 5 folds) downloaded through the figshare API, or a zip/folder the user
  downloaded (the article's files, or a copy already in the brainlib layout).
- ``tcga-lgg``: the Kaggle "LGG MRI segmentation" release (mateuszbuda/lgg-mri-segmentation, ``kaggle_3m/
  <case>/<case>_<n>.tif`` + ``_mask.tif``) through kagglehub, or a zip/folder of it, or a copy already in
  the brainlib layout. From each patient the slice with the largest tumor and a tumor-free slice at least
  ``MIN_SLICE_GAP`` slices away with the most brain tissue are kept, split into the three sequences.

Everything is written to a private staging folder beside the destination and renamed into place at the
end, so an interrupted fetch never leaves a half-written dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from brainlib import config
from brainlib.data import DataError, is_hidden, safe_extract, summarize, validate_layout, warn
from brainlib.files import unwritable

KAGGLE_DATASET = "masoudnickparvar/brain-tumor-mri-dataset"
FIGSHARE_ARTICLE = 1512427
FIGSHARE_API = "https://api.figshare.com/v2"
FIGSHARE_LABELS = {1: "meningioma", 2: "glioma", 3: "pituitary"}  # cjdata.label in the .mat files
TCGA_KAGGLE = "mateuszbuda/lgg-mri-segmentation"
TCGA_CHANNELS = {"precontrast": 0, "flair": 1, "postcontrast": 2}  # RGB channels of the release's .tif files
TCGA_SIZE = 224
MIN_SLICE_GAP = 6


# ----------------------------------------------------------------------------- shared
def check_dest(dest: Path) -> None:
    """Refuse a destination that cannot be made, before anything is downloaded or converted: under a regular
    file, or inside a folder brainlib may not write."""
    problem = unwritable(dest)
    if problem:
        raise DataError(f"--dest {dest}: {problem}")


@contextlib.contextmanager
def source_named(tmp: str | os.PathLike, source) -> Iterator[None]:
    """Errors that mention the temporary folder a zip was extracted to name the user's ``source`` instead."""
    try:
        yield
    except DataError as e:
        if source is None or str(tmp) not in str(e):
            raise
        raise DataError(str(e).replace(str(tmp), f"{source} (inside)")) from None


def _staging(dest: Path) -> Path:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DataError(f"{dest} already exists and is not an empty folder; remove it or choose another --dest")
    check_dest(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))


def _finish(staging: Path, dest: Path) -> Path:
    if dest.exists():
        dest.rmdir()
    staging.rename(dest)
    return dest


def _unpack(source: Path, into: Path) -> Path:
    """A folder to read from: ``source`` itself, or the zip extracted (with the size guards) into ``into``."""
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if source.is_dir():
        return source
    if not zipfile.is_zipfile(source):
        raise DataError(f"{source}: not a folder or a .zip archive")
    safe_extract(source, into)
    return into


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob(pattern)
        if p.is_file() and not any(is_hidden(part) for part in p.relative_to(folder).parts)
    )


def download(url: str, target: Path, md5: str | None = None, chunk: int = 1 << 20) -> Path:
    """Download ``url`` to ``target`` (via a temporary name), checking the MD5 when given."""
    h = hashlib.md5()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.download")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            while block := response.read(chunk):
                h.update(block)
                out.write(block)
        if md5 and h.hexdigest() != md5:
            raise DataError(f"{url}: download corrupt (MD5 {h.hexdigest()}, expected {md5}); try again")
        os.replace(tmp, target)
    except OSError as e:
        raise DataError(f"{url}: download failed ({e})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


# ----------------------------------------------------------------------------- brain-tumor-mri (Kaggle)
def find_dataset_root(folder: Path) -> Path:
    """The shallowest non-hidden folder at or below ``folder`` that holds Training/ and Testing/
    (zips made on a Mac carry a ``__MACOSX`` shadow copy that must not win)."""
    subfolders = [
        p for p in folder.rglob("*") if p.is_dir() and not any(is_hidden(part) for part in p.relative_to(folder).parts)
    ]
    for candidate in [folder, *sorted(subfolders, key=lambda p: (len(p.parts), str(p)))]:
        if all((candidate / s).is_dir() for s in config.SPLITS):
            return candidate
    raise DataError(f"{folder}: no Training/ and Testing/ folders found inside")


def fetch_kaggle(source: str | os.PathLike | None = None, dest: str | os.PathLike | None = None) -> dict:
    """Put the dataset at ``dest`` and return per-split, per-class counts.

    ``source`` None downloads it with kagglehub; otherwise it is a local folder or ``.zip``.
    """
    dest = Path(dest).expanduser() if dest else config.data_dir()
    if dest.exists() and not dest.is_dir():
        raise DataError(f"{dest} is a file, not a folder; choose another --dest")
    check_dest(dest)
    if source is None:
        if dest.exists() and any(dest.iterdir()):
            validate_layout(dest)
            return summarize(dest)
        import kagglehub  # imported here: only the download needs it

        source = kagglehub.dataset_download(KAGGLE_DATASET)
    source = Path(source).expanduser()
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if dest.exists() and not dest.is_dir():
        raise DataError(f"{dest} is a file, not a folder; choose another --dest")
    if dest.exists() and any(dest.iterdir()):
        raise DataError(f"{dest} already exists and is not empty; remove it or choose another --dest")
    with tempfile.TemporaryDirectory() as tmp:
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise DataError(f"{source}: not a folder or a .zip archive")
            source = safe_extract(source, tmp)
        root = find_dataset_root(source)
        validate_layout(root)
        if dest.resolve().is_relative_to(root.resolve()):
            raise DataError(f"{dest} lies inside the source folder {root}; choose a --dest outside it")
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
        try:
            shutil.copytree(root, staging, ignore=shutil.ignore_patterns(".*", "__MACOSX"), dirs_exist_ok=True)
            if dest.exists():
                dest.rmdir()
            staging.rename(dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    counts = summarize(dest)
    if not sum(n for per_class in counts.values() for n in per_class.values()):
        raise DataError(f"{dest}: the imported dataset holds no images")
    return counts


# ----------------------------------------------------------------------------- figshare-cheng
def figshare_download(into: Path, api: str | None = None) -> Path:
    """Download every file of the figshare article into ``into`` (API base ``$BRAINLIB_FIGSHARE_API``)."""
    api = (api or os.environ.get("BRAINLIB_FIGSHARE_API") or FIGSHARE_API).rstrip("/")
    listing = f"{api}/articles/{FIGSHARE_ARTICLE}/files"
    try:
        with urllib.request.urlopen(listing, timeout=60) as response:
            files = json.loads(response.read())
    except (OSError, ValueError) as e:
        raise DataError(f"{listing}: cannot list the figshare files ({e})") from None
    for f in files:
        download(f["download_url"], into / Path(f["name"]).name, f.get("computed_md5") or None)
    return into


def _read_mat_image(path: Path) -> tuple[np.ndarray, int, str, np.ndarray]:
    """(image, label, patient id, tumor mask) of one figshare ``<index>.mat`` (MATLAB v7.3 = HDF5)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            cj = f["cjdata"]
            image = np.asarray(cj["image"], dtype=np.float64).T  # MATLAB stores column-major
            label = int(np.asarray(cj["label"]).ravel()[0])
            pid = "".join(chr(int(c)) for c in np.asarray(cj["PID"]).ravel())
            mask = np.asarray(cj["tumorMask"]).T.astype(bool)
    except (OSError, KeyError, ValueError, TypeError, IndexError) as e:
        raise DataError(
            f"{path.name}: not a figshare brain tumor .mat file ({' '.join(str(e).split())[:80]})"
        ) from None
    if label not in FIGSHARE_LABELS:
        raise DataError(f"{path.name}: unknown label {label} (expected 1, 2 or 3)")
    return image, label, pid, mask


def _read_folds(path: Path) -> np.ndarray:
    """The fold of each image from ``cvind.mat`` (MATLAB v5 or v7.3), refused unless every fold is a whole
    number from 1 to 100."""
    import h5py
    from scipy.io import loadmat

    try:
        try:
            values = loadmat(path)
        except NotImplementedError:  # v7.3: HDF5
            with h5py.File(path, "r") as f:
                values = {"cvind": np.asarray(f["cvind"])} if "cvind" in f else {}
    except Exception as e:  # noqa: BLE001 — scipy and h5py raise many kinds for a file that is not MATLAB
        raise DataError(f"{path.name}: not a MATLAB file ({' '.join(str(e).split())[:80]})") from None
    if "cvind" not in values:
        raise DataError(f"{path.name}: no 'cvind' fold vector in it")
    try:
        folds = np.asarray(values["cvind"], dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise DataError(f"{path.name}: 'cvind' is not a numeric vector") from None
    bad = ~(np.isfinite(folds) & (folds == np.round(folds)) & (folds >= 1) & (folds <= 100))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path.name}: image {i + 1} has fold {folds[i]!r}; folds must be whole numbers from 1 to 100 "
            f"({int(bad.sum())} such value(s))"
        )
    return folds.astype(int)


def convert_figshare(folder: Path, out: Path) -> int:
    """Write ``images/<class>/<index>.png``, ``folds.csv``, ``boxes.csv`` (and ``patients.csv``) into ``out``
    from the article's files in ``folder`` (the four zips or the ``.mat`` files themselves, and ``cvind.mat``)."""
    work = Path(tempfile.mkdtemp(dir=out))
    try:
        for z in _files(folder, "*.zip"):
            safe_extract(z, work / z.stem)
        mats = {int(p.stem): p for root in (folder, work) for p in _files(root, "*.mat") if p.stem.isdigit()}
        cvind = [p for root in (folder, work) for p in _files(root, "cvind*.mat")]
        if not mats:
            raise DataError(
                f"{folder}: no figshare <index>.mat files found (expected the article's zips or .mat files)"
            )
        if not cvind:
            raise DataError(f"{folder}: cvind.mat (the authors' 5 folds) is missing")
        folds = _read_folds(cvind[0])
        if len(folds) < max(mats):
            raise DataError(f"{cvind[0].name}: {len(folds)} folds for images up to {max(mats)}")
        rows_f, rows_b, rows_p = ["index,label,fold"], ["index,label,x_center,y_center,width,height"], ["index,patient"]
        for index in sorted(mats):
            image, label, pid, mask = _read_mat_image(mats[index])
            name = FIGSHARE_LABELS[label]
            lo, hi = float(image.min()), float(image.max())
            gray = np.zeros_like(image) if hi <= lo else (image - lo) / (hi - lo) * 255
            (out / "images" / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(gray.round().astype(np.uint8)).save(out / "images" / name / f"{index}.png")
            rows_f.append(f"{index},{name},{folds[index - 1]}")
            rows_p.append(f"{index},{pid}")
            ys, xs = np.nonzero(mask)
            if len(xs):
                h, w = mask.shape
                x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
                rows_b.append(
                    f"{index},{name},{(x0 + x1) / 2 / w:.6f},{(y0 + y1) / 2 / h:.6f},"
                    f"{(x1 - x0) / w:.6f},{(y1 - y0) / h:.6f}"
                )
        for fname, rows in (("folds.csv", rows_f), ("boxes.csv", rows_b), ("patients.csv", rows_p)):
            (out / fname).write_text("\n".join(rows) + "\n")
        return len(mats)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _copy_layout(root: Path, staging: Path, marker: str) -> None:
    if staging.resolve().is_relative_to(root.resolve()):
        raise DataError(f"{root}: the destination lies inside this folder; choose a --dest outside it")
    shutil.copytree(root, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*", "__MACOSX"))
    if not (staging / marker).exists():
        raise DataError(f"{root}: {marker} missing after copy")


def _fetch_layout(
    dataset: str,
    source: str | os.PathLike | None,
    dest: str | os.PathLike,
    download: Callable[[Path], Path],
    marker: str,
    convert: Callable[[Path, Path], int],
    ready_when: Callable[[Path], bool] = lambda folder: True,
) -> Path:
    """The one fetch path of the derived datasets: ``download(tmp)`` (``source`` None) or the user's zip/folder,
    then a copy of a ready brainlib layout (the folder holding ``marker``, if ``ready_when`` it) or
    ``convert(folder, staging)``, the result validated, and the staging folder renamed to ``dest`` (removed on any
    failure). Errors name the user's source, never a temporary folder."""
    from brainlib import datasets

    dest = Path(dest).expanduser()
    staging = _staging(dest)
    try:
        with (
            tempfile.TemporaryDirectory(dir=staging.parent, prefix=".fetch-") as tmp,
            source_named(tmp, source),
            source_named(staging, source),
        ):
            folder = download(Path(tmp)) if source is None else _unpack(Path(source).expanduser(), Path(tmp))
            ready = [p.parent for p in _files(folder, marker) if ready_when(p.parent)]
            if ready:
                _copy_layout(ready[0], staging, marker)
            else:
                convert(folder, staging)
            datasets.get(dataset).table(staging)  # validates the result
        return _finish(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def fetch_figshare(source: str | os.PathLike | None, dest: str | os.PathLike) -> Path:
    """Put figshare-cheng at ``dest``: downloaded (``source`` None) or from a zip/folder."""
    return _fetch_layout(
        "figshare-cheng",
        source,
        dest,
        figshare_download,
        "folds.csv",
        convert_figshare,
        lambda f: (f / "images").is_dir(),
    )


# ----------------------------------------------------------------------------- tcga-lgg
_TCGA_SLICE = re.compile(r"^(?P<case>.+)_(?P<n>\d+)$")


def _tcga_cases(folder: Path) -> dict[str, dict[int, tuple[Path, Path]]]:
    """case → slice number → (image .tif, mask .tif) of the Kaggle release found under ``folder``."""
    cases: dict[str, dict[int, tuple[Path, Path]]] = {}
    for mask in _files(folder, "*_mask.tif"):
        m = _TCGA_SLICE.match(mask.name[: -len("_mask.tif")])
        image = mask.with_name(mask.name.replace("_mask.tif", ".tif"))
        if m and image.exists():
            cases.setdefault(m["case"], {})[int(m["n"])] = (image, mask)
    return cases


def choose_slices(
    tumor_area: dict[int, int], brain_area: dict[int, int], gap: int = MIN_SLICE_GAP
) -> tuple[int, int] | None:
    """(tumor slice, tumor-free slice): the slice with the largest tumor area, and among the tumor-free
    slices at least ``gap`` slices from it the one with the most brain tissue; None if there is none."""
    tumor = max(tumor_area, key=lambda n: (tumor_area[n], -n))
    if tumor_area[tumor] == 0:
        return None
    free = [n for n, a in tumor_area.items() if a == 0 and abs(n - tumor) >= gap]
    if not free:
        return None
    return tumor, max(free, key=lambda n: (brain_area[n], -n))


def convert_tcga(folder: Path, out: Path, size: int = TCGA_SIZE) -> int:
    """Write ``<sequence>/<kind>/<patient>_<slice>.png``, ``masks/`` and ``slices.csv`` into ``out`` from
    the Kaggle release in ``folder``; returns the number of patients kept."""
    cases = _tcga_cases(folder)
    if not cases:
        raise DataError(
            f"{folder}: no LGG segmentation slices found (expected kaggle_3m/<case>/<case>_<n>.tif "
            "with <case>_<n>_mask.tif)"
        )
    rows = ["patient,slice,kind,tumor_pixels_256"]
    unreadable: list[str] = []
    for case in sorted(cases):
        tumor_area, brain_area = {}, {}
        for n, (image, mask) in cases[case].items():
            try:
                with Image.open(mask) as m:
                    area = int((np.asarray(m.convert("L")) > 127).sum())
                with Image.open(image) as im:
                    brain_area[n] = int((np.asarray(im.convert("RGB"))[..., TCGA_CHANNELS["flair"]] > 10).sum())
                tumor_area[n] = area
            except (OSError, ValueError, Image.DecompressionBombError) as e:  # one corrupt slice: that slice only
                unreadable.append(f"{image.name}: {' '.join(str(e).split())[:60]}")
                brain_area.pop(n, None)
        if not tumor_area:
            continue
        chosen = choose_slices(tumor_area, brain_area)
        if chosen is None:
            continue
        for n, kind in zip(chosen, ("tumor", "no_tumor_slice")):
            image, mask = cases[case][n]
            with Image.open(image) as im:
                rgb = np.asarray(im.convert("RGB"))
            for seq, ch in TCGA_CHANNELS.items():
                (out / seq / kind).mkdir(parents=True, exist_ok=True)
                Image.fromarray(rgb[..., ch]).resize((size, size), Image.Resampling.BILINEAR).save(
                    out / seq / kind / f"{case}_{n}.png"
                )
            (out / "masks").mkdir(exist_ok=True)
            with Image.open(mask) as m:
                m.convert("L").resize((size, size), Image.Resampling.NEAREST).save(out / "masks" / f"{case}_{n}.png")
            rows.append(f"{case},{n},{kind},{tumor_area[n]}")
    if unreadable:
        warn(f"tcga-lgg: {len(unreadable)} unreadable slice(s) skipped (e.g. {unreadable[0]})")
    if len(rows) == 1:
        raise DataError(f"{folder}: no patient has both a tumor slice and a tumor-free slice {MIN_SLICE_GAP} apart")
    (out / "slices.csv").write_text("\n".join(rows) + "\n")
    return (len(rows) - 1) // 2


def _kaggle_download(into: Path) -> Path:
    import kagglehub

    return Path(kagglehub.dataset_download(TCGA_KAGGLE))


def fetch_tcga(source: str | os.PathLike | None, dest: str | os.PathLike) -> Path:
    """Put tcga-lgg at ``dest``: the Kaggle release through kagglehub (``source`` None) or a zip/folder."""
    return _fetch_layout("tcga-lgg", source, dest, _kaggle_download, "slices.csv", convert_tcga)


FETCHERS = {"brain-tumor-mri": fetch_kaggle, "figshare-cheng": fetch_figshare, "tcga-lgg": fetch_tcga}
