"""SYNTHETIC phantom images for offline smoke runs and unit tests ONLY — not MRI, not medical data.

The images made here are procedural cartoons of an axial head slice (skull ring, brain ellipse,
smooth texture) with a class-specific "lesion" drawn on top. They exist so that the pipeline
(fetch → decode → cache → train → evaluate) can be exercised end to end without the real Kaggle
dataset and without network access. Nothing learned or measured on them says anything about
brain tumours: never report results on this data as results on MRI.

Classes follow :data:`brainlib.config.CLASSES` and are made deliberately easy to tell apart:

* ``glioma``     — a large, irregular bright blob inside the brain;
* ``meningioma`` — a bright round mass pressed against the skull ring;
* ``notumor``    — no lesion;
* ``pituitary``  — a small bright spot at the bottom centre of the brain.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from brainlib import config

NOTICE = (
    "SYNTHETIC DATA - NOT REAL MRI.\n"
    "These images are procedural phantoms made by brainlib.synthetic.write_synthetic_dataset\n"
    "(seed={seed}, size={size}). They exist only for offline smoke runs and unit tests of the\n"
    "brainlib pipeline. They contain no patient data and carry no medical meaning; results\n"
    "obtained on them must never be reported as results on brain MRI.\n"
)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int = 8) -> np.ndarray:
    """Smooth random field (about unit variance), bilinearly upsampled from a ``cells``² grid."""
    grid = rng.standard_normal((cells + 1, cells + 1), dtype=np.float32)
    t = np.linspace(0.0, cells, size, dtype=np.float32)
    i = np.minimum(t.astype(int), cells - 1)
    f = t - i
    rows = grid[i] * (1 - f)[:, None] + grid[i + 1] * f[:, None]  # size × (cells+1)
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def _soft(dist: np.ndarray, edge: float) -> np.ndarray:
    """1 inside (dist < 0), 0 outside (dist > edge), linear ramp between."""
    return np.clip(1.0 - dist * np.float32(1.0 / edge), 0.0, 1.0)


def _window(dx: np.ndarray, dy: np.ndarray, x0: float, y0: float, hx: float, hy: float) -> tuple[slice, slice]:
    """Rows and columns where |y - y0| <= hy and |x - x0| <= hx (``dx``, ``dy`` sorted ascending).

    Lesions are drawn only inside their bounding window: far fewer pixels, so it stays fast.
    """
    xs, ys = dx.ravel(), dy.ravel()
    cols = slice(int(np.searchsorted(xs, x0 - hx)), int(np.searchsorted(xs, x0 + hx, side="right")))
    rows = slice(int(np.searchsorted(ys, y0 - hy)), int(np.searchsorted(ys, y0 + hy, side="right")))
    return rows, cols


def make_phantom(label: int, rng: np.random.Generator, size: int = 224) -> np.ndarray:
    """One synthetic ``size``×``size`` uint8 head phantom of class ``label`` (index into CLASSES)."""
    if not 0 <= label < len(config.CLASSES):
        raise ValueError(f"label must be in 0..{len(config.CLASSES) - 1}, got {label}")
    name = config.CLASSES[label]
    f32 = np.float32
    coords = np.linspace(-1.0, 1.0, size, dtype=f32)
    px = 2.0 / size  # one pixel in normalised units

    # head geometry: random shift, scale and aspect
    cx, cy = rng.uniform(-0.05, 0.05, size=2)
    scale = rng.uniform(0.9, 1.02)
    ax, ay = 0.74 * scale * rng.uniform(0.95, 1.05), 0.88 * scale
    dx = (coords - f32(cx))[None, :]  # 1×W, relative to the head centre
    dy = (coords - f32(cy))[:, None]  # H×1, y grows downwards (row index)
    r = np.sqrt((dx * f32(1 / ax)) ** 2 + (dy * f32(1 / ay)) ** 2)  # 1 on the skull's outer edge
    inner = rng.uniform(0.9, 0.93)  # brain/skull boundary in units of r

    brain_level = f32(rng.uniform(95, 125))
    skull_level = f32(rng.uniform(200, 235))
    texture = _smooth_noise(rng, size, cells=10)
    brain = _soft(r - f32(inner), 2 * px)
    head = _soft(r - f32(1.0), 2 * px)
    img = (head - brain) * skull_level + brain * (brain_level + f32(12.0) * texture)
    # ventricles: two faint dark ellipses near the centre, common to all classes
    for side in (-1.0, 1.0):
        vx0, vy0, hx, hy = side * 0.09 * ax, -0.05, 0.06 * ax, 0.22 * ay
        rs, cs = _window(dx, dy, vx0, vy0, 1.3 * hx, 1.3 * hy)
        v = np.sqrt(((dx[:, cs] - f32(vx0)) * f32(1 / hx)) ** 2 + ((dy[rs] - f32(vy0)) * f32(1 / hy)) ** 2)
        img[rs, cs] -= f32(35.0) * _soft(v - f32(1.0), 0.3) * brain[rs, cs]

    # class-specific lesion, drawn inside its bounding window (rs, cs)
    lesion_level = f32(rng.uniform(205, 245))
    if name == "glioma":
        rad, ang = inner * rng.uniform(0.0, 0.4), rng.uniform(0, 2 * np.pi)
        lx, ly = rad * ax * np.cos(ang), rad * ay * np.sin(ang)
        amps = rng.uniform(0.08, 0.2, size=3)
        phis = rng.uniform(0, 2 * np.pi, size=3)
        radius = rng.uniform(0.24, 0.32)
        reach = radius * (1 + amps.sum()) + 0.04
        rs, cs = _window(dx, dy, lx, ly, reach, reach)
        ldx, ldy = dx[:, cs] - f32(lx), dy[rs] - f32(ly)
        rho = np.sqrt(ldx**2 + ldy**2)
        # irregular outline: radius modulated by angular harmonics cos(kθ + φ), k = 2, 3, 5,
        # built from cos θ and sin θ by angle addition (no arctan: keeps this fast)
        c1, s1 = ldx / (rho + f32(1e-6)), ldy / (rho + f32(1e-6))
        c2, s2 = c1 * c1 - s1 * s1, 2 * c1 * s1
        c3, s3 = c2 * c1 - s2 * s1, s2 * c1 + c2 * s1
        c5, s5 = c3 * c2 - s3 * s2, s3 * c2 + c3 * s2
        wobble = np.ones_like(rho)
        for (ck, sk), amp, phi in zip(((c2, s2), (c3, s3), (c5, s5)), amps, phis):
            wobble += f32(amp * np.cos(phi)) * ck - f32(amp * np.sin(phi)) * sk
        blob = _soft(rho - f32(radius) * wobble, 0.04) * brain[rs, cs]
        core = _soft(rho - f32(0.35 * radius), 0.05)  # darker necrotic centre
        level = lesion_level * (1 - f32(0.35) * core) + f32(10.0) * texture[rs, cs]
        img[rs, cs] += blob * (level - img[rs, cs])
    elif name == "meningioma":
        ang = rng.uniform(-np.pi * 0.95, -np.pi * 0.05)  # upper half of the head (convexity)
        radius = rng.uniform(0.13, 0.19)
        # centre just inside the brain boundary so the mass touches the skull ring
        ux, uy = np.cos(ang), np.sin(ang)
        edge = inner / np.sqrt((ux / ax) ** 2 + (uy / ay) ** 2)  # distance to brain boundary along (ux, uy)
        lx, ly = (edge - 0.8 * radius) * ux, (edge - 0.8 * radius) * uy
        rs, cs = _window(dx, dy, lx, ly, radius + 0.03, radius + 0.03)
        d = np.sqrt((dx[:, cs] - f32(lx)) ** 2 + (dy[rs] - f32(ly)) ** 2) - f32(radius)
        mass = _soft(d, 0.02) * head[rs, cs]
        img[rs, cs] += mass * (lesion_level - img[rs, cs])
    elif name == "pituitary":
        radius = rng.uniform(0.06, 0.085)
        lx = rng.uniform(-0.03, 0.03) * ax
        ly = inner * ay * rng.uniform(0.64, 0.7)
        rs, cs = _window(dx, dy, lx, ly, 1.2 * (radius + 0.03), radius + 0.03)
        d = np.sqrt(((dx[:, cs] - f32(lx)) * f32(1 / 1.2)) ** 2 + (dy[rs] - f32(ly)) ** 2) - f32(radius)
        spot = _soft(d, 0.02) * brain[rs, cs]
        img[rs, cs] += spot * (lesion_level - img[rs, cs])

    img *= f32(rng.uniform(0.85, 1.1))  # global intensity
    noise = rng.random(img.shape, dtype=f32)  # acquisition noise inside the head (uniform, sd ≈ 4)
    noise -= f32(0.5)
    noise *= head
    img += f32(14.0) * noise
    return np.clip(img, 0, 255, out=img).round().astype(np.uint8)


def write_synthetic_dataset(
    root: str | os.PathLike,
    n_train_per_class: int = 12,
    n_test_per_class: int = 6,
    size: int = 224,
    seed: int = 0,
) -> Path:
    """Write a SYNTHETIC phantom dataset in the real dataset's layout and return ``root``.

    ``root/Training/<class>/synth_XXXX.jpg`` and ``root/Testing/<class>/synth_XXXX.jpg`` (8-bit
    grayscale JPEG), plus ``root/SYNTHETIC_DATA.txt`` saying what this is. The same ``seed`` always
    gives the same images.
    """
    root = Path(root).expanduser()
    counts = {"Training": n_train_per_class, "Testing": n_test_per_class}
    for split_index, split in enumerate(config.SPLITS):
        for label, name in enumerate(config.CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng([seed, split_index, label])
            for i in range(counts[split]):
                arr = make_phantom(label, rng, size)
                Image.fromarray(arr).save(folder / f"synth_{i:04d}.jpg", quality=92)
    (root / "SYNTHETIC_DATA.txt").write_text(NOTICE.format(seed=seed, size=size))
    return root


FIGSHARE_LABELS = ("glioma", "meningioma", "pituitary")


def write_synthetic_figshare(
    root: str | os.PathLike, per_class_per_fold: int = 3, folds: int = 5, size: int = 128, seed: int = 0
) -> Path:
    """A SYNTHETIC stand-in in the figshare-cheng layout: ``images/<class>/<index>.jpg``, ``folds.csv``,
    ``boxes.csv`` (a fixed central box, not the lesion) and the SYNTHETIC notice."""
    root = Path(root).expanduser()
    rng = np.random.default_rng([seed, 7])
    folds_rows, box_rows, index = ["index,label,fold"], ["index,label,x_center,y_center,width,height"], 0
    for fold in range(1, folds + 1):
        for name in FIGSHARE_LABELS:
            (root / "images" / name).mkdir(parents=True, exist_ok=True)
            for _ in range(per_class_per_fold):
                index += 1
                arr = make_phantom(config.CLASSES.index(name), rng, size)
                Image.fromarray(arr).save(root / "images" / name / f"{index}.jpg", quality=92)
                folds_rows.append(f"{index},{name},{fold}")
                box_rows.append(f"{index},{name},0.5,0.5,0.3,0.3")
    (root / "folds.csv").write_text("\n".join(folds_rows) + "\n")
    (root / "boxes.csv").write_text("\n".join(box_rows) + "\n")
    (root / "SYNTHETIC_DATA.txt").write_text(NOTICE.format(seed=seed, size=size))
    return root


def write_synthetic_tcga(root: str | os.PathLike, patients: int = 6, size: int = 128, seed: int = 0) -> Path:
    """A SYNTHETIC stand-in in the tcga-lgg layout: per patient a glioma phantom ("tumor" slice) and a
    lesion-free one, the same picture at three brightness levels as the three sequences, masks, ``slices.csv``."""
    root = Path(root).expanduser()
    rng = np.random.default_rng([seed, 11])
    rows = ["patient,slice,kind,tumor_pixels_256"]
    for p in range(patients):
        patient = f"SYNTH_{p:02d}"
        for kind, label, n in (("tumor", "glioma", 20), ("no_tumor_slice", "notumor", 8)):
            arr = make_phantom(config.CLASSES.index(label), rng, size)
            for seq, gain in (("flair", 1.0), ("precontrast", 0.8), ("postcontrast", 0.9)):
                (root / seq / kind).mkdir(parents=True, exist_ok=True)
                Image.fromarray((arr * gain).astype(np.uint8)).save(root / seq / kind / f"{patient}_{n}.png")
            mask = np.zeros((size, size), np.uint8)
            if kind == "tumor":
                mask[size // 3 : size // 2, size // 3 : size // 2] = 255
            (root / "masks").mkdir(exist_ok=True)
            Image.fromarray(mask).save(root / "masks" / f"{patient}_{n}.png")
            rows.append(f"{patient},{n},{kind},{int((mask > 0).sum())}")
    (root / "slices.csv").write_text("\n".join(rows) + "\n")
    (root / "SYNTHETIC_DATA.txt").write_text(NOTICE.format(seed=seed, size=size))
    return root


def main(argv: list[str] | None = None) -> None:
    """``python -m brainlib.synthetic OUT`` writes a small SYNTHETIC dataset for offline smoke runs."""
    import argparse

    parser = argparse.ArgumentParser(description="Write a small SYNTHETIC phantom dataset (not real MRI).")
    parser.add_argument("out", help="folder to create")
    parser.add_argument(
        "--dataset",
        default="brain-tumor-mri",
        choices=["brain-tumor-mri", "figshare-cheng", "tcga-lgg"],
        help="which layout to imitate",
    )
    parser.add_argument("--train", type=int, default=24, help="Training images per class")
    parser.add_argument("--test", type=int, default=12, help="Testing images per class")
    args = parser.parse_args(argv)
    if args.dataset == "figshare-cheng":
        root = write_synthetic_figshare(args.out)
    elif args.dataset == "tcga-lgg":
        root = write_synthetic_tcga(args.out)
    else:
        root = write_synthetic_dataset(args.out, args.train, args.test)
    print(f"SYNTHETIC phantom {args.dataset} layout written to {root}")


if __name__ == "__main__":
    main()
