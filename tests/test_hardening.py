"""The hardening issue's contract, item by item: SIGTERM resume at the CLI, devices, a fast CLI, batched
predict, bad inputs that used to end with exit 1 (empty class folders, a cache path that is a file), the
committed leak-free file left alone when another folder is audited, and sweeps on local processes and on a
Dask cluster giving the sequential results. All data here is SYNTHETIC."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from test_ablation import _tiny_grid  # the same two-variant grid as the ablation tests
from test_cli_contract import run_main  # cli.main with stdout and stderr captured

from brainlib import ablation, cli, config, crossval, datasets, engine, files, recipes, sweep
from brainlib.synthetic import write_synthetic_dataset, write_synthetic_figshare

REPO = Path(__file__).resolve().parents[1]


def _env(**extra):
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


# ----------------------------------------------------------------------------- a fast CLI
def _heavy_modules_after(imports: str, heavy: tuple[str, ...]) -> list[str]:
    """Which of ``heavy`` a fresh interpreter has loaded after running ``imports``."""
    code = f"import sys; {imports}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout)  # noqa: S307 — our own printed list


def test_help_and_config_do_not_import_torch():
    """`brainlib --help` must answer in well under a second: nothing it imports may load torch or numpy."""
    imports = "import brainlib.cli, brainlib.config; brainlib.cli.build_parser().format_help()"
    assert _heavy_modules_after(imports, ("torch", "numpy", "pandas")) == []


def test_predict_path_does_not_import_pandas_or_sklearn():
    heavy = ("pandas", "sklearn", "scipy", "matplotlib")
    assert _heavy_modules_after("import brainlib.engine, brainlib.data, brainlib.cli", heavy) == []


@pytest.fixture
def tiny_checkpoint(tmp_path):
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 32})
    torch.manual_seed(0)
    model = engine.build_model(cfg.model, **cfg.model_kwargs)
    path = tmp_path / "tiny.pt"
    engine.atomic_save(engine.checkpoint_dict(model, cfg), path)
    return path


def test_predict_batches_keep_file_order_and_errors_in_place(tiny_checkpoint, tmp_path, monkeypatch):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(11):
        Image.fromarray(np.full((32, 32), 20 * i, np.uint8)).save(folder / f"{i:02d}.png")
    (folder / "05.png").write_bytes(b"not an image")  # an unreadable file in the middle of a batch
    monkeypatch.setattr(cli, "PREDICT_BATCH", 4)
    rc, out, err = run_main(["predict", str(folder), "--checkpoint", str(tiny_checkpoint), "--json"])
    assert rc == 2 and err.count("\n") == 1 and "05.png" in err
    rows = [__import__("json").loads(line) for line in out.splitlines()]
    assert [Path(r["path"]).name for r in rows] == [f"{i:02d}.png" for i in range(11)]
    assert "error" in rows[5] and all("label" in r for i, r in enumerate(rows) if i != 5)
    # one image at a time gives the same probabilities as the batch
    rc1, out1, _ = run_main(["predict", str(folder / "07.png"), "--checkpoint", str(tiny_checkpoint), "--json"])
    single = __import__("json").loads(out1)
    assert single["probabilities"] == pytest.approx(rows[7]["probabilities"], abs=1e-6)


# ----------------------------------------------------------------------------- devices
@pytest.mark.parametrize(
    "argv_device, env_device, message",
    [
        (["--device", "bogus"], None, "--device 'bogus' is not a device"),
        (["--device", "cuda:7"], None, "--device 'cuda:7'"),
        ([], "warp-drive", "BRAINLIB_DEVICE 'warp-drive' is not a device"),
    ],
)
def test_unavailable_device_exit_2_one_line(tiny_checkpoint, tmp_path, monkeypatch, argv_device, env_device, message):
    if env_device:
        monkeypatch.setenv("BRAINLIB_DEVICE", env_device)
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(image)
    rc, out, err = run_main(["predict", str(image), "--checkpoint", str(tiny_checkpoint), *argv_device])
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and message in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda_is_refused_not_silently_replaced():
    with pytest.raises(config.DeviceError, match="no CUDA GPU"):
        config.get_device("cuda")


def test_auto_device_and_cpu_results_unchanged(synthetic_root, monkeypatch):

    assert config.get_device("cpu").type == "cpu"
    monkeypatch.setenv("BRAINLIB_DEVICE", "cpu")
    assert config.get_device().type == "cpu"
    sets = [datasets.load_split(s, 64, synthetic_root) for s in ("Training", "Testing")]
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 64, "widths": [8, 16]}, epochs=1, batch_size=8)
    a = engine.train(cfg, *sets, progress=False, device="cpu")
    monkeypatch.delenv("BRAINLIB_DEVICE")
    b = engine.train(cfg, *sets, progress=False)  # auto: cpu here
    assert a.device == "cpu"
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_and_prediction(synthetic_root):  # pragma: no cover - runs on GPU machines only

    sets = [datasets.load_split(s, 64, synthetic_root) for s in ("Training", "Testing")]
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 64, "widths": [8, 16]}, epochs=1, batch_size=8)
    run = engine.train(cfg, *sets, progress=False, device="cuda")
    assert run.device.startswith("cuda") and next(run.model.parameters()).is_cuda
    probs = engine.predict_proba(run.model, sets[1].images)
    assert probs.shape == (len(sets[1]), 4) and np.isfinite(probs).all()


# ----------------------------------------------------------------------------- SIGTERM resume at the CLI
SLOW_TRAIN = """
import sys, time
from brainlib import cli, engine
real = engine.run_epoch
def slow(model, loader, loss_fn, optimizer=None, *a, **k):
    if optimizer is not None:
        time.sleep(1.5)  # time for the test to send SIGTERM after epoch 1
    return real(model, loader, loss_fn, optimizer, *a, **k)
engine.run_epoch = slow
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_sigterm_then_rerun_resumes_to_the_weights_of_an_uninterrupted_run(synthetic_root, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIB_PROFILE", "full")
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(synthetic_root))
    argv = ["train", "--epochs", "3", "--batch-size", "8", "--device", "cpu"]
    threads = str(torch.get_num_threads())
    env = _env(OMP_NUM_THREADS=threads)
    straight = tmp_path / "straight.pt"
    out = subprocess.run(
        [sys.executable, "-m", "brainlib", *argv, "--out", str(straight)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr

    resumed = tmp_path / "resumed.pt"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_TRAIN, *argv, "--out", str(resumed)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state = Path(f"{resumed}.resume")
    deadline = time.time() + 240
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert state.exists(), proc.stderr.read() if proc.poll() is not None else "no resume state in time"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    messages = [line for line in err.splitlines() if line.startswith("brainlib:")]  # besides the progress bar
    assert proc.returncode == 130 and len(messages) == 1 and "interrupted" in messages[0], err
    assert state.exists() and not resumed.exists()

    out = subprocess.run(
        [sys.executable, "-m", "brainlib", *argv, "--out", str(resumed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "resuming from epoch 2" in out.stdout and not state.exists()
    a = torch.load(straight, weights_only=True)["state_dict"]
    b = torch.load(resumed, weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- bad input, exit 2
def test_empty_class_folder_exit_2(synthetic_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(synthetic_root, root)
    for f in (root / "Training" / "pituitary").iterdir():
        f.unlink()
    for argv in (
        ["audit", "--data", str(root), "--no-write"],
        ["train", "--data", str(root), "--out", str(tmp_path / "m.pt")],
    ):
        rc, out, err = run_main(argv)
        assert rc == 2 and err.count("\n") == 1, err
        assert "no images in pituitary" in err
    assert not (tmp_path / "m.pt").exists()


def test_cache_path_that_is_a_file_exit_2(synthetic_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.write_text("precious")
    monkeypatch.setenv("BRAINLIB_CACHE_DIR", str(cache))
    rc, out, err = run_main(["audit", "--data", str(synthetic_root), "--no-write"])
    assert rc == 2 and err.count("\n") == 1 and "is a file, not a folder" in err
    assert cache.read_text() == "precious"


def test_audit_of_another_folder_leaves_the_committed_subset_file_alone(synthetic_root, monkeypatch):
    config.LEAK_FREE_FILE.parent.mkdir(parents=True, exist_ok=True)
    config.LEAK_FREE_FILE.write_text("# committed\n")
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(synthetic_root.parent / "elsewhere"))
    rc, _, err = run_main(["audit", "--data", str(synthetic_root)])
    assert rc == 0, err
    assert config.LEAK_FREE_FILE.read_text() == "# committed\n"
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(synthetic_root))
    assert run_main(["audit"])[0] == 0
    assert "# pixels:" in config.LEAK_FREE_FILE.read_text()  # the configured dataset's audit does update it


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ablation", "--workers", "0"], "--workers must be at least 1"),
        (["crossval", "--threads", "0"], "--threads must be at least 1"),
        (["ablation", "--seeds", "0"], "--seeds must be at least 1"),
    ],
)
def test_sweep_arguments_checked(argv, message):
    rc, out, err = run_main(argv)
    assert rc == 2 and err.count("\n") == 1 and message in err


# ----------------------------------------------------------------------------- sweeps
@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("sweep"), 14, 3, size=48, seed=2)


@pytest.fixture(scope="module")
def synthetic_figshare(tmp_path_factory):
    return write_synthetic_figshare(tmp_path_factory.mktemp("figshare"), per_class_per_fold=2, size=64)


def _comparable(runs: pd.DataFrame) -> pd.DataFrame:
    timing = ["seconds_per_epoch", "train_seconds", "history", "environment", "threads"]
    return runs.drop(columns=timing).reset_index(drop=True)


@pytest.mark.slow
def test_ablation_on_local_processes_matches_sequential(sweep_root, tmp_path):
    smoke = config.get_profile("smoke")
    seq = ablation.run_ablation(
        _tiny_grid(), seeds=2, root=sweep_root, profile=smoke, cache_dir=tmp_path / "a", progress=False, threads=1
    )
    par = ablation.run_ablation(
        _tiny_grid(),
        seeds=2,
        root=sweep_root,
        profile=smoke,
        cache_dir=tmp_path / "b",
        progress=False,
        workers=2,
        threads=1,
    )
    pd.testing.assert_frame_equal(_comparable(seq), _comparable(par))
    assert sorted(p.name for p in (tmp_path / "a" / "smoke" / "kaggle-holdout").iterdir()) == sorted(
        p.name for p in (tmp_path / "b" / "smoke" / "kaggle-holdout").iterdir()
    )


@pytest.mark.slow
def test_ablation_and_crossval_on_a_dask_cluster(sweep_root, synthetic_figshare, tmp_path):
    distributed = pytest.importorskip("distributed")
    smoke = config.get_profile("smoke")
    seq = ablation.run_ablation(
        _tiny_grid(), seeds=2, root=sweep_root, profile=smoke, cache_dir=tmp_path / "seq", progress=False, threads=1
    )
    cv_seq = crossval.run_crossval(
        "figshare-cheng",
        "seed",
        root=synthetic_figshare,
        profile=smoke,
        cache_dir=tmp_path / "cvseq",
        progress=False,
        threads=1,
    )
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        dask_runs = ablation.run_ablation(
            _tiny_grid(),
            seeds=2,
            root=sweep_root,
            profile=smoke,
            cache_dir=tmp_path / "dask",
            progress=False,
            scheduler=lc.scheduler_address,
            threads=1,
        )
        cv_dask = crossval.run_crossval(
            "figshare-cheng",
            "seed",
            root=synthetic_figshare,
            profile=smoke,
            cache_dir=tmp_path / "cvdask",
            progress=False,
            scheduler=lc.scheduler_address,
            threads=1,
        )
        # the same sweep again on the cluster: everything from the shared cache, nothing retrained
        again = ablation.run_ablation(
            _tiny_grid(),
            seeds=2,
            root=sweep_root,
            profile=smoke,
            cache_dir=tmp_path / "dask",
            progress=False,
            scheduler=lc.scheduler_address,
        )
    pd.testing.assert_frame_equal(_comparable(seq), _comparable(dask_runs))
    pd.testing.assert_frame_equal(_comparable(dask_runs), _comparable(again))
    assert len(list((tmp_path / "dask" / "smoke" / "kaggle-holdout").glob("*.json"))) == 4
    assert not list((tmp_path / "dask" / "smoke" / "kaggle-holdout").glob(".*tmp"))  # no temporary file left behind
    for a, b in zip(cv_seq, cv_dask):
        assert (a["fold"], a["predictions"], a["accuracy"]) == (b["fold"], b["predictions"], b["accuracy"])


def test_unreachable_scheduler_is_bad_input():
    pytest.importorskip("distributed")
    with (
        pytest.raises(sweep.SweepError, match="cannot connect"),
        sweep.executor(scheduler="tcp://127.0.0.1:9"),
    ):
        pass


def test_atomic_write_leaves_no_temporary(tmp_path):
    target = tmp_path / "x" / "r.json"
    files.atomic_write_text(target, "{}")
    files.atomic_write_text(target, '{"a": 1}')
    assert target.read_text() == '{"a": 1}' and [p.name for p in target.parent.iterdir()] == ["r.json"]


# ----------------------------------------------------------------------------- zip guard, through the CLI
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
