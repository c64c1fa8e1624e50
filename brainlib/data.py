"""Image files in, uint8 arrays out: find and validate the dataset layout, decode every image one way, cache it.

Every image, whatever its file mode (L, RGB, RGBA, palette, CMYK, 16-bit), is decoded to ONE
representation: an 8-bit single-channel (grayscale) array. MRI is a single-channel modality; the
RGB files of this dataset carry the same value in all three channels, and whether a file was saved
as L or RGB depends on which source collection (and so which class) it came from. Decoding
everything to grayscale keeps the intensity information and removes that file-encoding cue.
Models that want three channels (the seed preset) get the gray channel repeated.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import warnings
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from brainlib import config
from brainlib.errors import DataError  # noqa: F401 (re-exported: brainlib.data.DataError)
from brainlib.files import write_cache

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"}
MAX_PIXELS = 40_000_000  # decompression-bomb guard: ~6300×6300; MRI slices are far smaller
NORM_MEAN, NORM_STD = 0.5, 0.5


def warn(message: str) -> None:
    """A user-facing UserWarning shown as ``brainlib:0: UserWarning: message`` (no source path)."""
    warnings.warn_explicit(message, UserWarning, filename="brainlib", lineno=0, module="brainlib")


# ----------------------------------------------------------------------------- images
def load_image(path: str | os.PathLike, size: int | None = None) -> np.ndarray:
    """Decode any image file to an ``H×W`` uint8 grayscale array, resized to ``size``² if given.

    Raises :class:`DataError` with a one-line reason for anything that is not a usable image.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected an image file")
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise DataError(f"{path}: image too large ({w}×{h} pixels, limit {MAX_PIXELS:,})")
            im.load()
            gray = to_grayscale(im)
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise DataError(f"{path}: image too large ({e})") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image file (cannot identify format)") from None
    except OSError as e:
        reason = "truncated or corrupt image" if "truncat" in str(e).lower() else f"unreadable image ({e})"
        raise DataError(f"{path}: {reason}") from None
    except (ValueError, SyntaxError) as e:  # PIL raises these for some malformed headers
        raise DataError(f"{path}: corrupt image ({e})") from None
    if size is not None and gray.size != (size, size):
        gray = gray.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    return np.array(gray, dtype=np.uint8)  # a writable copy (torch.from_numpy warns on read-only arrays)


def to_grayscale(im: Image.Image) -> Image.Image:
    """One consistent 8-bit grayscale image from any PIL mode (see module docstring)."""
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit, 32-bit and float images: map [min(0, lowest), highest] onto 0..255 when the values
        # do not already fit 8 bits (floats are always stretched: [0, 1] floats must not turn black)
        arr = np.asarray(im, dtype=np.float64)
        lo = min(float(arr.min()), 0.0)
        span = float(arr.max()) - lo
        scale = 255.0 / span if span > 0 and (span > 255 or im.mode == "F") else 1.0
        arr = np.clip((arr - lo) * scale, 0, 255)
        return Image.fromarray(arr.round().astype(np.uint8), mode="L")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))  # MRI background is black
        im = Image.alpha_composite(background, rgba)
    if im.mode == "CMYK":
        im = im.convert("RGB")
    return im.convert("L") if im.mode != "L" else im


# ----------------------------------------------------------------------------- layout
@dataclass
class ScanResult:
    """Image files of one dataset split: relative paths, labels, and what was skipped."""

    root: Path
    paths: list[str] = field(default_factory=list)  # relative to root, POSIX style
    labels: list[int] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason → count

    def counts(self) -> dict[str, int]:
        c = Counter(self.labels)
        return {name: c.get(i, 0) for i, name in enumerate(config.CLASSES)}


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__MACOSX") or name == "Thumbs.db"


def validate_layout(root: str | os.PathLike) -> Path:
    """Check ``root`` holds Training/ and Testing/ with the four class folders; return it."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"dataset folder {root} does not exist; run 'brainlib fetch' or set BRAINLIB_DATA_DIR")
    if not root.is_dir():
        raise DataError(f"dataset path {root} is not a folder")
    missing = [f"{s}/{c}" for s in config.SPLITS for c in config.CLASSES if not (root / s / c).is_dir()]
    if missing:
        raise DataError(
            f"{root} is not a Brain Tumor MRI dataset folder: missing {', '.join(missing)} "
            f"(expected Training/ and Testing/, each with {', '.join(config.CLASSES)})"
        )
    return root


def iter_image_files(folder: Path, skipped: Counter | None = None, problems: list | None = None) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted; hidden entries, non-images and entries that are not
    regular files (FIFOs, devices, broken links) skipped. Folders that cannot be read are skipped too, each
    one-line reason appended to ``problems`` when given."""
    found = []

    def unreadable(e: OSError) -> None:
        if problems is not None:
            problems.append(f"{e.filename}: cannot read the folder ({e.strerror or e})")

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable):
        hidden = [d for d in dirnames if is_hidden(d)]
        if skipped is not None and hidden:
            for d in hidden:
                skipped["hidden folder"] += sum(len(f) for _, _, f in os.walk(Path(dirpath) / d))
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        for name in filenames:
            if is_hidden(name):
                if skipped is not None:
                    skipped["hidden file"] += 1
                continue
            if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                if skipped is not None:
                    skipped["not an image"] += 1
                continue
            path = Path(dirpath) / name
            try:
                regular = stat.S_ISREG(path.stat().st_mode)  # follows links: a FIFO or device is no image file
            except OSError as e:  # a broken symbolic link, a link loop, or no permission to look
                if skipped is not None:
                    skipped["broken link" if e.errno in (errno.ENOENT, errno.ELOOP) else "unreadable file"] += 1
                if problems is not None and e.errno not in (errno.ENOENT, errno.ELOOP):
                    problems.append(f"{path}: cannot read ({e.strerror or e})")
                continue
            if not regular:
                if skipped is not None:
                    skipped["not a regular file"] += 1
                continue
            found.append(path)
    return sorted(found)


def scan_split(root: str | os.PathLike, split: str, max_per_class: int | None = None) -> ScanResult:
    """List the images of one split (``Training`` or ``Testing``)."""
    root = validate_layout(root)
    result = ScanResult(root=root)
    for label, name in enumerate(config.CLASSES):
        files = iter_image_files(root / split / name, result.skipped)
        if max_per_class is not None:
            files = files[:max_per_class]
        result.paths += [f.relative_to(root).as_posix() for f in files]
        result.labels += [label] * len(files)
    if result.skipped:
        what = ", ".join(f"{n} {k}" for k, n in sorted(result.skipped.items()))
        key = (str(root.resolve()), split, what)
        if key not in _REPORTED_SKIPS:  # once per process: a notebook scans the same folder many times
            _REPORTED_SKIPS.add(key)
            warn(f"{split}: skipped {what}")
    return result


_REPORTED_SKIPS: set[tuple[str, str, str]] = set()


def fingerprint(root: Path, paths: list[str]) -> str:
    """A short hash of the listed files' names and sizes: the same for every copy of the same data
    (stored in checkpoints and in the leak-free subset file)."""
    h = hashlib.sha1()
    for p in paths:
        h.update(f"{p}\0{(root / p).stat().st_size}\n".encode())
    return h.hexdigest()[:16]


DECODER_VERSION = 2  # bump when decoding changes, so old caches are not reused


def cache_key(root: Path, paths: list[str], size: int) -> str:
    """Like :func:`fingerprint` plus modification times, decoder version and size: a file rewritten
    in place, or a change to the decoder, invalidates the cache."""
    h = hashlib.sha1(f"v{DECODER_VERSION}-{size}-{root.resolve()}".encode())
    for p in paths:
        st = (root / p).stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- fetch
MAX_UNZIPPED_BYTES = 16 * 2**30  # no release we read is near this: a larger archive is refused
MAX_COMPRESSION_RATIO = 200  # images and .mat files compress far less; a zip bomb compresses far more


def safe_extract(archive: str | os.PathLike, into: str | os.PathLike) -> Path:
    """Extract a zip into ``into`` after checking it: no symlink entries, no paths leaving ``into``, total
    size under :data:`MAX_UNZIPPED_BYTES`, no entry compressed more than :data:`MAX_COMPRESSION_RATIO`×.
    A corrupt archive (bad CRC) is a :class:`DataError` too."""
    import stat

    archive, into = Path(archive), Path(into)
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            total = 0
            for info in infos:
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise DataError(f"{archive}: refused, entry {info.filename!r} is a symbolic link")
                target = (into / info.filename).resolve()
                if not target.is_relative_to(into.resolve()):
                    raise DataError(f"{archive}: refused, entry {info.filename!r} points outside the folder")
                total += info.file_size
                if info.file_size > 1 << 20 and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
                    raise DataError(
                        f"{archive}: refused, entry {info.filename!r} expands "
                        f"{info.file_size // max(info.compress_size, 1)}× (zip bomb guard)"
                    )
            if total > MAX_UNZIPPED_BYTES:
                raise DataError(
                    f"{archive}: refused, it would expand to {total / 2**30:.1f} GiB "
                    f"(limit {MAX_UNZIPPED_BYTES / 2**30:.0f} GiB)"
                )
            into.mkdir(parents=True, exist_ok=True)
            zf.extractall(into)
    except zipfile.BadZipFile as e:
        raise DataError(f"{archive}: corrupt zip archive ({e})") from None
    return into


def summarize(root: Path) -> dict:
    """Counts of images per split and class."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {s: scan_split(root, s).counts() for s in config.SPLITS}


# ----------------------------------------------------------------------------- cache
@dataclass
class ImageSet:
    """Decoded images of one split: ``images`` uint8 N×H×W, ``labels`` int64 N, relative ``paths``."""

    images: torch.Tensor
    labels: torch.Tensor
    paths: list[str]
    root: Path
    fingerprint: str
    errors: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def content_hash(self) -> str:
        """A hash of the decoded pixels, labels and names (unlike ``fingerprint``, it changes when a file is
        replaced in place by another of the same size); computed once."""
        cached = self.__dict__.get("_content_hash")
        if cached is None:
            h = hashlib.blake2b(digest_size=8)
            h.update(json.dumps(self.paths).encode())
            h.update(self.labels.numpy().tobytes())
            h.update(np.ascontiguousarray(self.images.numpy()).tobytes())
            cached = self.__dict__["_content_hash"] = h.hexdigest()
        return cached

    def subset(self, index) -> ImageSet:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageSet(
            self.images[index],
            self.labels[index],
            [self.paths[i] for i in index.tolist()],
            self.root,
            self.fingerprint,
        )


def decode_many(files: list[Path], size: int, workers: int = 2) -> tuple[np.ndarray, list[int], list[str]]:
    """Decode files in parallel threads; returns stacked images, indices kept, and error lines."""

    def one(f: Path):
        try:
            return load_image(f, size), None
        except DataError as e:
            return None, str(e)

    out = np.zeros((len(files), size, size), dtype=np.uint8)
    kept, errors = [], []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, (arr, err) in enumerate(pool.map(one, files, chunksize=64)):
            if err:
                errors.append(err)
            else:
                out[len(kept)] = arr
                kept.append(i)
    return out[: len(kept)], kept, errors


def load_files(
    root: Path, paths: list[str], labels: list[int], size: int, tag: str = "images", use_cache: bool = True
) -> ImageSet:
    """Decode the listed files (relative to ``root``) at ``size``² px through the on-disk uint8 cache.

    The one decode → cache path of every dataset. Unreadable files are skipped with a warning each and
    listed in ``errors``; the cache file is named ``<tag>_<size>_<key>.npz``.
    """
    root = Path(root)
    fp = fingerprint(root, paths)
    cache_file = config.cache_dir() / f"{tag}_{size}_{cache_key(root, paths, size)}.npz"
    if use_cache and cache_file.exists():
        try:
            with np.load(cache_file) as z:
                meta = json.loads(str(z["meta"]))
                return ImageSet(
                    torch.from_numpy(z["images"]),
                    torch.from_numpy(z["labels"]),
                    meta["paths"],
                    root,
                    fp,
                    meta["errors"],
                )
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
            warn(f"image cache {cache_file} is unreadable (truncated or corrupt); rebuilding it")
    images, kept, errors = decode_many([root / p for p in paths], size)
    for e in errors:
        warn(f"skipped unreadable image: {e}")
    kept_paths = [paths[i] for i in kept]
    kept_labels = np.asarray([labels[i] for i in kept], dtype=np.int64)
    if use_cache:
        meta = json.dumps({"paths": kept_paths, "errors": errors})
        write_cache(
            cache_file, lambda tmp: np.savez(tmp, images=images, labels=kept_labels, meta=np.array(meta)), ".npz"
        )
    return ImageSet(torch.from_numpy(images), torch.from_numpy(kept_labels), kept_paths, root, fp, errors)


# ----------------------------------------------------------------------------- splits


# ----------------------------------------------------------------------------- tensors


SYNTHETIC_MARKER = "SYNTHETIC_DATA.txt"


def is_synthetic(root: str | os.PathLike | None = None) -> bool:
    """True when ``root`` is a synthetic phantom dataset (see :mod:`brainlib.synthetic`)."""
    return (Path(root or config.data_dir()) / SYNTHETIC_MARKER).exists()
