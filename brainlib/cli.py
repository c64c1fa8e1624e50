"""The ``brainlib`` command: fetch, audit, train, crossval, evaluate, predict.

Exit codes: 0 all good, 2 bad input (one line per problem on stderr, other inputs still processed),
1 internal error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
import warnings
from pathlib import Path

from brainlib import config, recipes
from brainlib.errors import BadInput, DataError

# Nothing heavy is imported at module level (torch, numpy, pandas load inside the commands): `brainlib --help`
# answers in well under a second.

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


def _err(msg: str) -> None:
    print(f"brainlib: error: {msg}", file=sys.stderr)


_WARNED: set[str] = set()


def _one_line_warnings(message, category, filename, lineno, file=None, line=None):
    text = _printable(message)
    if text not in _WARNED:  # the same warning once per command, however many times the data is read
        _WARNED.add(text)
        print(f"brainlib: warning: {text}", file=sys.stderr)


# ----------------------------------------------------------------------------- commands
def cmd_fetch(args) -> int:
    from brainlib import datasets
    from brainlib.fetchers import FETCHERS

    spec = datasets.get(args.dataset)
    dest = spec.root(args.dest)
    if not (args.source is None and dest.is_dir() and any(dest.iterdir())):  # else already there: validate it
        FETCHERS[args.dataset](args.source, dest)
    table = spec.table(dest)
    print(f"{args.dataset} ready at {dest}" if args.dataset != "brain-tumor-mri" else f"dataset ready at {dest}")
    parts = table.groupby("split", sort=False) if "split" in table else [("", table)]
    for split, part in parts:
        counts = part["label"].value_counts()
        extra = f", {part['fold'].nunique()} folds" if "fold" in part else ""
        extra += f", {part['patient'].nunique()} patients" if "patient" in part else ""
        head = f"{split:9s} {len(part):5d}" if split else f"{len(part)} images{extra}:"
        print(f"  {head}  " + "  ".join(f"{c} {counts.get(c, 0)}" for c in spec.classes))
    return EXIT_OK


def cmd_audit(args) -> int:
    from brainlib import audit
    from brainlib.data import is_synthetic

    report = audit.run_audit(args.data, threshold=args.threshold)
    summary = report.summary()
    # the committed subset file describes the project's dataset: auditing another folder never overwrites it
    own_data = args.data is None or Path(args.data).expanduser().resolve() == config.data_dir().resolve()
    if args.write and own_data:
        audit.write_leak_free(report)
        if not is_synthetic(args.data):
            audit.write_summary(report)  # the README's audit table: the real dataset's only
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    print(
        f"Training {summary['training_images']} images, Testing {summary['testing_images']} images "
        f"(pHash threshold {summary['threshold']}, {summary['seconds']:.1f}s)"
    )
    n = summary["testing_images"]
    for key, label in (
        ("exact_cross_test_images", "Testing images with a pixel-identical Training image"),
        ("near_cross_test_images", "Testing images with a near duplicate in Training"),
        ("leak_free_test_images", "leak-free Testing images"),
    ):
        print(f"  {label:55s} {summary[key]:5d} ({summary[key] / max(n, 1):.1%})")
    print(f"  exact duplicates within splits: {summary['exact_within']}; label conflicts: {summary['label_conflicts']}")
    print("  per class (Testing images / exact / near / leak-free):")
    for c, v in summary["per_class"].items():
        print(f"    {c:11s} {v['test_images']:4d} {v['exact_cross']:4d} {v['near_cross']:4d} {v['leak_free']:4d}")
    return EXIT_OK


def _device(args, announce: bool = True):
    """The device for this command (one-line error, exit 2, when it is not available), announced on stdout in
    text mode (JSON results carry it as ``device``)."""
    device = config.get_device(getattr(args, "device", None))
    if announce and not getattr(args, "json", False):
        print(f"device: {config.describe_device(device)}", flush=True)
    return device


def _output_problem(out: Path, flag: str) -> str | None:
    """Why ``out`` cannot be written as a checkpoint file, checked before any work: a folder, a path under a
    regular file, or a folder brainlib may not write into."""
    from brainlib.files import unwritable

    if out.is_dir():
        return f"{flag} {out} is a folder; give a checkpoint file path"
    if unwritable(out):
        return f"{flag} {out}: {unwritable(out)}"
    if out.exists() and (not out.stat().st_mode & 0o222 or not os.access(out, os.W_OK)):
        return f"{flag} {out} is read-only; give another path"
    return None


def _raise_problems(problems: list[str]) -> None:
    """Every problem, one line each, as one bad-input error (exit 2)."""
    if problems:
        raise DataError("\n".join(f"{'brainlib: error: ' if i else ''}{p}" for i, p in enumerate(problems)))


def cmd_train(args) -> int:
    from brainlib.data import is_synthetic
    from brainlib.evaluation import train_and_evaluate
    from brainlib.models import MODELS, unknown_arguments, weights_problem

    problems = []
    recipe_name = args.recipe or recipes.default_recipe(args.model)
    recipe = recipes.get(recipe_name)
    model = args.model or recipe.architecture
    if model not in MODELS:
        problems.append(f"unknown model {model!r}; choose one of {', '.join(sorted(MODELS))}")
    elif unknown_arguments(model, recipe.config.model_kwargs):
        problems.append(
            f"--recipe {recipe_name} sets model arguments "
            f"({', '.join(unknown_arguments(model, recipe.config.model_kwargs))}) that --model {model} does not take; "
            f"it trains {recipe.architecture}"
        )
    elif weights_problem(model, recipe.config.model_kwargs):
        problems.append(weights_problem(model, recipe.config.model_kwargs))
    for name, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            problems.append(f"{name} must be at least 1, got {value}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        problems.append(f"--lr must be a positive finite number, got {args.lr}")
    if args.out is not None and not args.out.strip():
        problems.append("--out is empty; give a checkpoint path")
    cfg = recipes.train_config(
        recipe_name,
        model=model,
        epochs=args.epochs,
        lr=args.lr,
        optimizer=args.optimizer,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    profile = config.get_profile()
    synthetic = is_synthetic(args.data)
    shipped_path = recipes.output_path(recipe_name, cfg, profile.name, synthetic)
    out = Path(args.out) if args.out else shipped_path
    owner = recipes.owner(out) if args.out and args.out.strip() else None
    if owner is not None and out.resolve() != shipped_path.resolve():
        # a shipped checkpoint is written only by its own recipe, run as it is, in the full profile, on real data
        problems.append(
            f"--out {out} is the shipped checkpoint of recipe {owner}; this run "
            f"({_run_description(recipe_name, model, cfg, profile.name, synthetic)}) may not replace it: "
            "give another path or leave --out out"
        )
    elif args.out is None or args.out.strip():
        problem = _output_problem(out, "--out")
        if problem:
            problems.append(problem)
    _raise_problems(problems)  # before any data is loaded or anything is trained
    device = _device(args)
    result = train_and_evaluate(
        cfg, out, root=args.data, resume=not args.restart, progress=not args.json, device=device
    )
    result["checkpoint"] = str(out)
    result["recipe"] = recipe_name
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_metrics_text(result))
        print(f"checkpoint written to {out}")
    return EXIT_OK


def _run_description(recipe_name: str, model: str, cfg, profile: str, synthetic: bool) -> str:
    """What makes a run other than its recipe as written, in words."""
    what = []
    if model != recipes.get(recipe_name).architecture:
        what.append(f"model {model}")
    if not recipes.is_exact(recipe_name, cfg) and model == recipes.get(recipe_name).architecture:
        what.append("changed settings")
    if profile != "full":
        what.append(f"{profile} profile")
    if synthetic:
        what.append("synthetic data")
    return f"recipe {recipe_name}" + (f" with {', '.join(what)}" if what else "")


def _metrics_text(result: dict) -> str:
    lines = []
    if result.get("synthetic"):
        lines.append("NOTE: SYNTHETIC phantom data — these numbers say nothing about real MRI.")
    for name, key in (("official Testing", None), ("leak-free Testing", "leak_free")):
        m = result[key] if key else result
        lo, hi = m.get("accuracy_ci95", (float("nan"), float("nan")))
        ece = f"  ECE {m['ece']:.4f}" if "ece" in m else ""
        lines.append(
            f"{name:18s} n={m['n']:5d}  accuracy {m['accuracy']:.4f} (95% CI {lo:.4f}–{hi:.4f})  "
            f"macro-F1 {m['macro_f1']:.4f}{ece}"
        )
    return "\n".join(lines)


def cmd_evaluate(args) -> int:
    from brainlib.evaluation import evaluate_checkpoint

    t0 = time.perf_counter()
    device = _device(args, announce=False)
    args.checkpoint = _checkpoint_path(args)
    result = evaluate_checkpoint(args.checkpoint, root=args.data, tta=args.tta, device=device)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"checkpoint {args.checkpoint}  ({result['model']}; device: {config.describe_device(device)})")
        print(_metrics_text(result))
    return EXIT_OK


PREDICT_BATCH = 64  # images decoded and classified together


def cmd_calibrate(args) -> int:
    from brainlib.data import is_synthetic
    from brainlib.engine import read_checkpoint
    from brainlib.evaluation import calibrate_checkpoint

    source = Path(_checkpoint_path(args))
    read_checkpoint(source)  # not ours, truncated, other classes: refused before anything is fitted
    out = Path(args.out) if args.out else source
    profile = config.get_profile()
    problems = []
    if args.out is not None and not args.out.strip():
        problems.append("--out is empty; give a checkpoint path")
    elif recipes.owner(out) and (profile.name != "full" or is_synthetic(args.data)):
        why = f"the {profile.name} profile" if profile.name != "full" else "synthetic data"
        problems.append(
            f"{out} is a shipped checkpoint: a temperature fitted with {why} may not replace it; "
            "give --out for a calibrated copy"
        )
    elif recipes.owner(out) and recipes.owner(out) != recipes.owner(source):
        problems.append(f"--out {out} is the shipped checkpoint of recipe {recipes.owner(out)}; give another path")
    else:
        problem = _output_problem(out, "--out" if args.out else "--checkpoint")
        if problem:
            problems.append(problem + ("" if args.out else " (or give --out for a calibrated copy)"))
    _raise_problems(problems)  # before the fit
    temperature = calibrate_checkpoint(source, root=args.data, out=out)
    if args.json:
        print(json.dumps({"checkpoint": str(out), "temperature": temperature}))
    else:
        print(
            f"{out}: temperature {temperature:.4f} fitted on the validation split and stored "
            "(predict and evaluate apply it)"
        )
    return EXIT_OK


def cmd_predict(args) -> int:
    import numpy as np
    import torch

    from brainlib.data import iter_image_files, load_image
    from brainlib.engine import checkpoint_temperature, load_checkpoint, predict_proba

    device = config.get_device(args.device)
    model, ckpt = load_checkpoint(_checkpoint_path(args), device=device)
    size = ckpt["preprocessing"]["size"]
    tta = ckpt.get("tta", False)
    temperature = checkpoint_temperature(ckpt)
    synthetic = bool(ckpt.get("train_config", {}).get("synthetic", False))
    if synthetic:
        print(
            "brainlib: warning: this checkpoint was trained on SYNTHETIC phantom data; its predictions say "
            "nothing about real MRI",
            file=sys.stderr,
        )
    status = EXIT_OK

    def report_error(path, msg):
        nonlocal status
        status = EXIT_BAD_INPUT
        _err(_printable(msg))
        if args.json:
            print(json.dumps({"path": _printable(path), "error": _printable(msg)}), flush=True)

    def emit(f, probs):
        if not np.isfinite(probs).all():
            report_error(f, f"{f}: the model produced non-finite probabilities for this image")
            return
        label = config.CLASSES[int(probs.argmax())]
        pdict = {c: round(float(p), 6) for c, p in zip(config.CLASSES, probs)}
        shown = _printable(f)
        if args.json:
            record = {"path": shown, "label": label, "probabilities": pdict}
            print(json.dumps({**record, "synthetic": True} if synthetic else record), flush=True)
        else:
            print(
                f"{shown}: {label}  ("
                + ", ".join(f"{c} {p:.3f}" for c, p in pdict.items())
                + ")"
                + ("  [SYNTHETIC model]" if synthetic else ""),
                flush=True,
            )

    files: list[Path] = []
    for arg in args.paths:
        if not arg.strip():
            report_error(arg, "an empty path was given; name an image file or a folder")
            continue
        p = Path(arg)
        if p.is_dir():
            problems: list[str] = []
            try:
                found = iter_image_files(p, problems=problems)
            except OSError as e:
                report_error(p, f"{p}: cannot read the folder ({e.strerror or e})")
                continue
            for problem in problems:  # unreadable sub-folders: reported, the readable images still predicted
                report_error(p, problem)
            if not found and not problems:
                report_error(p, f"{p}: folder holds no image files")
            files += found
        else:
            files.append(p)
    bar = None
    if len(files) > PREDICT_BATCH and sys.stderr.isatty():  # a progress bar for long folders, on a terminal only
        from tqdm.auto import tqdm

        bar = tqdm(total=len(files), unit="img", file=sys.stderr, leave=False)
    for start in range(0, len(files), PREDICT_BATCH):
        chunk = files[start : start + PREDICT_BATCH]
        decoded: list = []  # an image array, or the error message, per file (reported in file order)
        for f in chunk:
            try:
                decoded.append(load_image(f, size))
            except DataError as e:
                decoded.append(str(e))
        images = [d for d in decoded if not isinstance(d, str)]
        probs = iter(
            predict_proba(model, torch.from_numpy(np.stack(images)), tta=tta, temperature=temperature) if images else []
        )
        for f, d in zip(chunk, decoded):
            if isinstance(d, str):
                report_error(f, d)
            else:
                emit(f, next(probs))
        if bar is not None:
            bar.update(len(files[start : start + PREDICT_BATCH]))
    if bar is not None:
        bar.close()
    return status


def _printable(obj) -> str:
    """A path or message as one line of text any terminal encoding can print: bytes of a file name that are not
    valid UTF-8 (kept by Python as surrogates) become U+FFFD instead of stopping the batch, and control characters
    (a newline in a file name) are escaped so that one problem stays one line."""
    text = str(obj).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


def _fold_list(text: str) -> list[int]:
    try:
        folds = [int(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"folds must be comma-separated numbers, got {text!r}") from None
    if not folds:
        raise argparse.ArgumentTypeError("no fold given")
    return folds


def _check_sweep_args(args) -> None:
    problems = [
        f"{name} must be at least 1, got {v}"
        for name, v in (("--workers", args.workers), ("--threads", args.threads))
        if v is not None and v < 1
    ]
    if problems:
        raise DataError("; ".join(problems))
    if args.device:
        os.environ[config.DEVICE_ENV] = args.device  # worker processes inherit it
    _device(args)


def cmd_crossval(args) -> int:
    from brainlib import crossval

    _check_sweep_args(args)
    if args.seeds is not None and args.seeds < 1:
        raise DataError(f"--seeds must be at least 1, got {args.seeds}")

    t0 = time.perf_counter()
    try:
        records = crossval.run_crossval(
            args.dataset,
            args.recipe,
            args.folds,
            root=args.data,
            force=args.force,
            progress=not args.json,
            workers=args.workers,
            scheduler=args.scheduler,
            threads=args.threads,
            model=args.model,
            seeds=list(range(args.seeds)) if args.seeds else None,
        )
    except ValueError as e:
        if isinstance(e, BadInput):
            raise
        raise DataError(str(e)) from None
    summary = crossval.summarize(records)
    summary["trained_now"] = sum(bool(r.get("trained_now")) for r in records)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    print(
        f"{args.dataset}, recipe {summary['recipe']} ({summary['model']}): patient-level cross-validation "
        f"({summary['trained_now']} fold(s) trained now, the rest from the result cache in results/runs/)"
    )
    for f in summary["folds"]:
        print(
            f"  fold {f['fold']}"
            + (f" seed {f['seed']}" if len(summary["seeds"]) > 1 else "")
            + f"  n={f['n']:4d}  accuracy {f['accuracy']:.4f}  macro-F1 {f['macro_f1']:.4f}  "
            f"(validation fold {f['val_fold']}, best epoch {f['best_epoch']})"
        )
    ci = summary["accuracy_ci95"]
    ci_text = f" (95% CI over folds {ci[0]:.4f}–{ci[1]:.4f})" if ci else ""
    print(
        f"  mean accuracy {summary['mean_accuracy']:.4f} ± {summary['std_accuracy']:.4f}{ci_text}, "
        f"macro-F1 {summary['mean_macro_f1']:.4f}"
    )
    if len(summary["seeds"]) > 1:
        spread = summary["seed_spread"]
        print(
            f"  over {spread['n']} seeds: mean of the seeds' means {spread['mean']:.4f} ± {spread['std']:.4f} "
            f"(per seed: {', '.join(f'{v:.4f}' for v in summary['per_seed'].values())})"
        )
    if "pointing_game" in summary:
        pg = summary["pointing_game"]
        print(
            f"  pointing game (Grad-CAM peak in the tumor box, {pg['images']} correct images): "
            f"{pg['gradcam']['hit_rate']:.3f}; centred prior {pg['centre_prior']['hit_rate']:.3f}"
        )
    return EXIT_OK


GRIDS = {
    "ablation": "ablation_grid",
    "full-size": "full_size_grid",
    "design": "design_grid",
    "learning-rate": "learning_rate_grid",
    "quick-recipe": "quick_recipe_grid",
    "transfer": "transfer_grid",
}


def cmd_ablation(args) -> int:
    from brainlib import ablation

    _check_sweep_args(args)
    if args.seeds is not None and args.seeds < 1:
        raise DataError(f"--seeds must be at least 1, got {args.seeds}")
    t0 = time.perf_counter()
    variants = getattr(ablation, GRIDS[args.grid])()
    runs = ablation.run_ablation(
        variants,
        seeds=args.seeds,
        force=args.force,
        root=args.data,
        progress=not args.json,
        workers=args.workers,
        scheduler=args.scheduler,
        threads=args.threads or ablation.GRID_THREADS.get(GRIDS[args.grid]),
    )
    summary = ablation.ablation_summary(runs)
    seconds = round(time.perf_counter() - t0, 2)
    if args.json:
        print(
            json.dumps(
                {
                    "grid": args.grid,
                    "runs": len(runs),
                    "seconds": seconds,
                    "summary": json.loads(summary.reset_index().to_json(orient="records")),
                },
                indent=2,
            )
        )
        return EXIT_OK
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.precision", 2):
        print(summary.drop(columns=["group"]))
    print(f"{len(runs)} runs in {seconds:.1f}s")
    return EXIT_OK


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brainlib", description="Brain tumor MRI classification workbook tools")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fetch", help="download a dataset or import a local folder/zip")
    p.add_argument(
        "--dataset",
        default="brain-tumor-mri",
        choices=["brain-tumor-mri", "figshare-cheng", "tcga-lgg"],
        help="which dataset (default: the Kaggle Brain Tumor MRI set)",
    )
    p.add_argument(
        "--from",
        dest="source",
        help="local folder or .zip (default: download: Kaggle for brain-tumor-mri and tcga-lgg, figshare)",
    )
    p.add_argument("--dest", help="where to put it (default: the dataset's environment variable or data/<dataset>)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("audit", help="duplicate / leakage audit of Training vs Testing")
    p.add_argument("--data", help="dataset root (default: $BRAINLIB_DATA_DIR)")
    p.add_argument("--threshold", type=int, default=None, help="pHash Hamming distance for near duplicates")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--no-write",
        dest="write",
        action="store_false",
        help="do not update the leak-free subset file results/leak_free_testing.txt and the summary "
        "results/audit.json (only an audit of the configured dataset, $BRAINLIB_DATA_DIR, ever updates them)",
    )
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("train", help="train a recipe, write its checkpoint, report Testing metrics")
    p.add_argument(
        "--recipe",
        choices=list(recipes.RECIPES),
        help="training recipe (default: the one written for --model, else robust): "
        + "; ".join(f"{r.name}: {r.description}" for r in recipes.RECIPES.values()),
    )
    p.add_argument(
        "--model",
        help="architecture to train the recipe on (fastnet, seed, tumorcnn, efficientnet_lite0; default: the recipe's)",
    )
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw", "adamax"])
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--out",
        help="checkpoint path (default: the recipe's shipped checkpoint in models/ when the recipe runs as written, "
        "in the full profile, on real data; else a file of its own under runs/)",
    )
    p.add_argument("--data", help="dataset root (default: $BRAINLIB_DATA_DIR)")
    p.add_argument("--restart", action="store_true", help="ignore an interrupted run's resume state")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _device_arg(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("crossval", help="patient-level cross-validation on a dataset with folds (figshare-cheng)")
    p.add_argument("--dataset", default="figshare-cheng", help="dataset with patient-level folds")
    p.add_argument("--data", help="dataset folder (default: $BRAINLIB_FIGSHARE_DIR or data/figshare-cheng)")
    p.add_argument(
        "--recipe", choices=list(recipes.RECIPES), default=recipes.DEFAULT, help="recipe (default: %(default)s)"
    )
    p.add_argument("--model", help="architecture to train the recipe on (default: the recipe's)")
    p.add_argument("--folds", type=_fold_list, help="comma-separated test folds (default: all)")
    p.add_argument(
        "--seeds", type=int, help="repeat the cross-validation with seeds 0..N-1 (default: the recipe's seed only)"
    )
    p.add_argument("--force", action="store_true", help="retrain folds even when their results are cached")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    _sweep_args(p)
    p.set_defaults(func=cmd_crossval)

    p = sub.add_parser("ablation", help="train an ablation grid over seeds (cached in results/runs/)")
    p.add_argument(
        "--grid",
        default="ablation",
        choices=sorted(GRIDS),
        help="ablation: the seed recipe's one-change variants at 112 px; full-size: the headline "
        "checks at 224 px; design: FastNet's design choices; learning-rate: Adam vs Adamax LRs; "
        "quick-recipe: the search behind the quick recipe",
    )
    p.add_argument("--seeds", type=int, help="seeds per variant (default: the profile's, 5 in full)")
    p.add_argument("--data", help="dataset root (default: $BRAINLIB_DATA_DIR)")
    p.add_argument("--force", action="store_true", help="retrain runs even when they are cached")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _sweep_args(p)
    p.set_defaults(func=cmd_ablation)

    p = sub.add_parser("evaluate", help="metrics on the official Testing split and its leak-free subset")
    _checkpoint_args(p)
    p.add_argument("--data", help="dataset root (default: $BRAINLIB_DATA_DIR)")
    p.add_argument("--tta", action="store_true", default=None, help="average with horizontally flipped input")
    p.add_argument("--json", action="store_true")
    _device_arg(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("calibrate", help="fit a checkpoint's temperature on the validation split and store it")
    _checkpoint_args(p)
    p.add_argument("--out", help="write the calibrated checkpoint here instead of updating it in place")
    p.add_argument("--data", help="dataset root (default: $BRAINLIB_DATA_DIR)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("predict", help="classify image files or folders of images")
    p.add_argument("paths", nargs="+", metavar="IMAGE_OR_DIR")
    _checkpoint_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _device_arg(p)
    p.set_defaults(func=cmd_predict)
    return parser


def _checkpoint_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="checkpoint file (default: the shipped checkpoint of --recipe)")
    p.add_argument(
        "--recipe",
        dest="ckpt_recipe",
        choices=list(recipes.RECIPES),
        help=f"use this recipe's shipped checkpoint (default: {recipes.DEFAULT})",
    )


def _checkpoint_path(args) -> str:
    """The checkpoint a command reads: --checkpoint, else the shipped checkpoint of --recipe (default recipe)."""
    if args.checkpoint is not None and args.ckpt_recipe is not None:
        raise DataError("give --checkpoint or --recipe, not both")
    if args.checkpoint is not None:
        if not args.checkpoint.strip():
            raise DataError("--checkpoint is empty; give a checkpoint file")
        return args.checkpoint
    return str(recipes.checkpoint(args.ckpt_recipe or recipes.DEFAULT))


def _device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: $BRAINLIB_DEVICE, else cuda → mps → cpu)")


def _sweep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=1, help="train missing runs on N local processes (default 1)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a Dask scheduler (tcp://host:8786): runs go to its cluster (pip install 'brainlib[cluster]')",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="torch threads per run (default: the study's fixed count; part of every cached run's key)",
    )
    _device_arg(p)


def _terminate(signum, frame):  # SIGTERM ends a run like Ctrl-C: the resume state of the last epoch is kept
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threshold", 0) is None:
        from brainlib.audit import DEFAULT_THRESHOLD

        args.threshold = DEFAULT_THRESHOLD
    warnings.showwarning = _one_line_warnings
    _WARNED.clear()
    try:
        config.get_profile()
    except ValueError as e:
        _err(f"BRAINLIB_PROFILE: {e}")
        return EXIT_BAD_INPUT
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (e.g. called from a worker thread): leave SIGTERM alone
        previous = None
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (e.g. `| head -1`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except BadInput as e:
        sep = "\nbrainlib: error: "  # one line per problem; a newline inside a problem is escaped
        _err(sep.join(_printable(problem) for problem in str(e).split(sep)))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _err(
            "interrupted (rerun the same command to resume a training run from its last finished epoch)"
            if args.command == "train"
            else "interrupted"
        )
        return 130
    except Exception as e:  # noqa: BLE001 — anything else is our bug: one line, traceback on request
        if os.environ.get("BRAINLIB_DEBUG"):
            raise
        _err(f"internal error: {type(e).__name__}: {e} (set BRAINLIB_DEBUG=1 for a traceback)")
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
