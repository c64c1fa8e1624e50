"""Bad input answered by the CLI contract (exit 2, one line per problem, nothing trained or overwritten):
training arguments checked before any data is loaded, an unknown profile, checkpoints with non-finite
weights, and a reader that closes the pipe; also a CLI that imports no heavy module, batched predict and SIGTERM
resume."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from brainlib import cli, config, engine, recipes

REPO = Path(__file__).resolve().parents[1]


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def no_data_loading(monkeypatch):
    """Fail loudly if a bad-argument call gets as far as loading data or training."""
    from brainlib import evaluation

    def refuse(*a, **k):
        raise AssertionError("training started despite bad arguments")

    monkeypatch.setattr(evaluation, "train_and_evaluate", refuse)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "bogus"], "unknown model 'bogus'"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--lr", "nan"], "--lr must be a positive finite number"),
        (["--lr", "-1"], "--lr must be a positive finite number"),
        (["--out", ""], "--out is empty"),
    ],
)
def test_train_rejects_bad_arguments_before_training(no_data_loading, argv, message):
    rc, out, err = run_main(["train", *argv])
    assert rc == 2 and message in err and "Traceback" not in err


def test_train_lists_every_problem_one_line_each(no_data_loading):
    rc, _, err = run_main(["train", "--model", "bogus", "--epochs", "0", "--lr", "0"])
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 3 and all(line.startswith("brainlib: error: ") for line in lines)


def test_train_out_that_is_a_folder_is_refused_before_training(no_data_loading, tmp_path):
    rc, _, err = run_main(["train", "--out", str(tmp_path)])
    assert rc == 2 and "is a folder" in err


def test_empty_out_never_touches_the_default_checkpoint(no_data_loading, tmp_path):
    recipes.checkpoint().parent.mkdir(parents=True, exist_ok=True)
    target = config.MODELS_DIR / "fastnet.pt"
    target.write_bytes(b"shipped")
    rc, _, _ = run_main(["train", "--out", ""])
    assert rc == 2 and target.read_bytes() == b"shipped"


def test_unknown_profile_is_bad_input(monkeypatch):
    monkeypatch.setenv("BRAINLIB_PROFILE", "bogus")
    rc, _, err = run_main(["audit", "--json"])
    assert rc == 2 and "BRAINLIB_PROFILE" in err and "unknown profile" in err


@pytest.fixture
def nan_checkpoint(tmp_path):
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 32})
    model = engine.build_model(cfg.model, **cfg.model_kwargs)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = tmp_path / "nan.pt"
    engine.atomic_save(engine.checkpoint_dict(model, cfg), path)
    return path


def test_checkpoint_with_nan_weights_is_refused(nan_checkpoint, tmp_path):
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(img)
    rc, out, err = run_main(["predict", str(img), "--checkpoint", str(nan_checkpoint), "--json"])
    assert rc == 2 and "NaN or infinite" in err and out == ""
    with pytest.raises(engine.CheckpointError, match="NaN or infinite"):
        engine.load_checkpoint(nan_checkpoint)


def test_closed_pipe_ends_quietly(tmp_path):
    """`brainlib predict folder | head -1`: no BrokenPipeError report, exit 0."""
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 32})
    model = engine.build_model(cfg.model, **cfg.model_kwargs)
    ckpt = tmp_path / "tiny.pt"
    engine.atomic_save(engine.checkpoint_dict(model, cfg), ckpt)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(400):
        Image.fromarray(np.full((32, 32), i % 255, np.uint8)).save(folder / f"{i:03d}.png")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "brainlib", "predict", str(folder), "--checkpoint", str(ckpt)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes away after one line
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert first and rc == 0, err
    assert "BrokenPipe" not in err and "internal error" not in err


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_interrupted_train_resumes_to_the_same_weights(synthetic_root, tmp_path, monkeypatch):
    """`brainlib train` stopped by Ctrl-C after its first epoch leaves `<out>.resume`; the same command
    again continues from epoch 2 and ends with the weights of an uninterrupted run."""
    from brainlib import engine as eng

    monkeypatch.setenv("BRAINLIB_PROFILE", "full")
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(synthetic_root))
    argv = ["train", "--epochs", "3", "--batch-size", "8"]
    straight = tmp_path / "straight.pt"
    assert run_main([*argv, "--out", str(straight)])[0] == 0

    real_run_epoch = eng.run_epoch
    calls = {"train": 0}

    def interrupted(model, loader, loss_fn, optimizer=None, *a, **k):
        if optimizer is not None:
            calls["train"] += 1
            if calls["train"] == 2:
                raise KeyboardInterrupt
        return real_run_epoch(model, loader, loss_fn, optimizer, *a, **k)

    resumed = tmp_path / "resumed.pt"
    monkeypatch.setattr(eng, "run_epoch", interrupted)
    rc, _, err = run_main([*argv, "--out", str(resumed)])
    assert rc == 130 and "interrupted" in err
    assert Path(f"{resumed}.resume").exists() and not resumed.exists()
    monkeypatch.setattr(eng, "run_epoch", real_run_epoch)
    rc, out, err = run_main([*argv, "--out", str(resumed)])
    assert rc == 0, err
    assert "resuming from epoch 2" in out
    assert not Path(f"{resumed}.resume").exists()
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    ckpt = torch.load(resumed, map_location="cpu", weights_only=True)
    assert len(ckpt["history"]) == 3 and "leak_free" in ckpt["metrics"]


def _tiny_checkpoint(tmp_path, name="tiny.pt", **meta):
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 32})
    model = engine.build_model(cfg.model, **cfg.model_kwargs)
    path = tmp_path / name
    ckpt = engine.checkpoint_dict(model, cfg)
    for key, value in meta.items():
        if key == "preprocessing_size":
            if value is None:
                del ckpt["preprocessing"]["size"]
            else:
                ckpt["preprocessing"]["size"] = value
        else:
            ckpt[key] = value
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize(
    "meta, message",
    [
        ({"preprocessing_size": 0}, "preprocessing size 0"),
        ({"preprocessing_size": "abc"}, "preprocessing size 'abc'"),
        ({"preprocessing_size": None}, "preprocessing size None"),
        ({"state_dict": "weights"}, "state_dict is not a mapping"),
        ({"model_kwargs": {"widths": [100000, 100000]}}, "out of range"),
        ({"model_kwargs": {"input_size": 10**6}}, "out of range"),
        ({"model_name": "bogus"}, "unknown model"),
    ],
)
def test_checkpoint_metadata_is_validated_before_building(tmp_path, meta, message):
    path = _tiny_checkpoint(tmp_path, **meta)
    with pytest.raises(engine.CheckpointError, match=message):
        engine.load_checkpoint(path)
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(img)
    rc, out, err = run_main(["predict", str(img), "--checkpoint", str(path)])
    assert rc == 2 and "invalid checkpoint metadata" in err and out == ""


def test_synthetic_model_says_so(tmp_path):
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 32}, synthetic=True)
    path = tmp_path / "synthetic.pt"
    engine.atomic_save(engine.checkpoint_dict(engine.build_model(cfg.model, **cfg.model_kwargs), cfg), path)
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(img)
    rc, out, err = run_main(["predict", str(img), "--checkpoint", str(path), "--json"])
    assert rc == 0 and "SYNTHETIC" in err
    assert json.loads(out)["synthetic"] is True
    rc, out, _ = run_main(["predict", str(img), "--checkpoint", str(path)])
    assert "SYNTHETIC" in out


def test_file_name_that_is_not_utf8_does_not_stop_the_batch(tmp_path):
    ckpt = _tiny_checkpoint(tmp_path)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in (b"\xff\xfe.png", b"good.png"):
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(os.fsdecode(bytes(folder) + b"/" + name))
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "brainlib", "predict", str(folder), "--checkpoint", str(ckpt), "--json"],
        capture_output=True,
        env=env,
        timeout=120,
    )
    lines = proc.stdout.decode().splitlines()
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(lines) == 2 and all("label" in json.loads(line) for line in lines)
    assert any("\ufffd" in json.loads(line)["path"] for line in lines)


def _env(**extra):
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


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
