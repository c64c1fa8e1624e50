"""The ``brainlib`` command end to end (DESIGN.md §2 and §5), on a SYNTHETIC phantom dataset with the smoke
profile: train, evaluate, predict (good and bad inputs), fetch, audit, exit codes, one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from brainlib import cli, config
from brainlib.synthetic import write_synthetic_dataset

pytestmark = pytest.mark.usefixtures("single_torch_thread")

N_TRAIN, N_TEST = 8, 4  # per class, 224×224 (the synthetic default size)


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """``brainlib.cli.main(argv)`` with stdout/stderr captured (usable outside a test's capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("brainlib: error:")]


def assert_one_error_line(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("brainlib: warning:")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("brainlib: error:")
    for f in fragments:
        assert f in lines[0]


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory):
    """The dataset, a shared decode cache and the two checkpoints trained through the CLI (with their output)."""
    base = tmp_path_factory.mktemp("cli")
    root = write_synthetic_dataset(base / "data", N_TRAIN, N_TEST, seed=1)
    cache = base / "cache"
    ns = SimpleNamespace(
        root=root, cache=cache, base=base, fast=base / "ckpt" / "fast.pt", seed=base / "ckpt" / "seed.pt", runs={}
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINLIB_PROFILE", "smoke")
        mp.setenv("BRAINLIB_DATA_DIR", str(root))
        mp.setenv("BRAINLIB_CACHE_DIR", str(cache))
        mp.setattr(config, "LEAK_FREE_FILE", base / "results" / "leak_free_testing.txt")
        mp.setattr(config, "MODELS_DIR", base / "models")
        mp.setattr(warnings, "showwarning", warnings.showwarning)
        ns.runs["seed"] = run_main(["train", "--model", "seed", "--out", str(ns.seed)])
        ns.runs["fast"] = run_main(["train", "--out", str(ns.fast)])
    return ns


@pytest.fixture(autouse=True)
def cli_env(cli_data, isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINLIB_PROFILE", "smoke")
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(cli_data.root))
    monkeypatch.setenv("BRAINLIB_CACHE_DIR", str(cli_data.cache))
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main() replaces it; restore after
    return cli_data


def a_test_image(cli_data, cls: str = "glioma", i: int = 0) -> Path:
    return cli_data.root / "Testing" / cls / f"synth_{i:04d}.jpg"


# ----------------------------------------------------------------------------- train
@pytest.mark.parametrize("name, model, size, channels", [("seed", "seed", 224, 3), ("fast", "fastnet", 160, 1)])
def test_train_writes_synthetic_checkpoint(cli_data, name, model, size, channels):
    rc, out, err = cli_data.runs[name]
    assert rc == 0, err
    assert "Traceback" not in err
    assert "SYNTHETIC" in out
    assert "official Testing" in out and "leak-free Testing" in out
    path = getattr(cli_data, name)
    assert f"checkpoint written to {path}" in out
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["model_name"] == model
    assert ckpt["train_config"]["synthetic"] is True
    assert ckpt["train_config"]["epochs"] == 1  # smoke profile
    assert ckpt["profile"] == "smoke"
    assert (ckpt["preprocessing"]["size"], ckpt["preprocessing"]["channels"]) == (size, channels)
    assert ckpt["classes"] == list(config.CLASSES)
    assert sorted(p.name for p in path.parent.iterdir()) == ["fast.pt", "seed.pt"]  # no temp/resume files


# ----------------------------------------------------------------------------- evaluate
METRIC_KEYS = {"n", "accuracy", "macro_f1", "per_class", "confusion_matrix"}


@pytest.mark.parametrize("name", ["fast", "seed"])
def test_evaluate_json(cli_data, capsys, name):
    rc = cli.main(["evaluate", "--checkpoint", str(getattr(cli_data, name)), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    result = json.loads(out)
    assert METRIC_KEYS <= set(result)
    assert METRIC_KEYS <= set(result["leak_free"])
    n = N_TEST * len(config.CLASSES)
    assert result["n"] == n
    assert 0 <= result["leak_free"]["n"] <= n
    assert list(result["per_class"]) == list(config.CLASSES)
    assert sum(map(sum, result["confusion_matrix"])) == n
    assert 0 <= result["accuracy"] <= 1
    assert result["synthetic"] is True


def test_evaluate_text(cli_data, capsys):
    rc = cli.main(["evaluate", "--checkpoint", str(cli_data.fast), "--data", str(cli_data.root)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "SYNTHETIC" in out and "official Testing" in out and "leak-free Testing" in out


def test_evaluate_missing_data_folder(cli_data, capsys, tmp_path):
    missing = tmp_path / "nowhere"
    rc = cli.main(["evaluate", "--checkpoint", str(cli_data.fast), "--data", str(missing)])
    _, err = capsys.readouterr()
    assert rc == 2
    assert_one_error_line(err, str(missing), "does not exist")


def test_evaluate_wrong_layout(cli_data, capsys, tmp_path):
    bad = tmp_path / "bad"
    (bad / "Training" / "glioma").mkdir(parents=True)
    (bad / "Testing").mkdir()
    rc = cli.main(["evaluate", "--checkpoint", str(cli_data.fast), "--data", str(bad)])
    _, err = capsys.readouterr()
    assert rc == 2
    assert_one_error_line(err, "missing")


# ----------------------------------------------------------------------------- predict
def parse_json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def assert_prediction(obj: dict) -> None:
    assert set(obj) - {"synthetic"} == {"path", "label", "probabilities"}
    assert obj.get("synthetic", True) is True  # present, and true, only for a model trained on SYNTHETIC data
    probs = obj["probabilities"]
    assert list(probs) == list(config.CLASSES)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
    assert obj["label"] == max(probs, key=probs.get)


def test_predict_one_image_json(cli_data, capsys):
    img = a_test_image(cli_data)
    rc = cli.main(["predict", str(img), "--checkpoint", str(cli_data.fast), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    objs = parse_json_lines(out)
    assert len(objs) == 1
    assert_prediction(objs[0])
    assert objs[0]["path"] == str(img)


def test_predict_folder(cli_data, capsys):
    folder = cli_data.root / "Testing" / "meningioma"
    rc = cli.main(["predict", str(folder), "--checkpoint", str(cli_data.seed), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    objs = parse_json_lines(out)
    assert sorted(o["path"] for o in objs) == sorted(str(p) for p in folder.glob("*.jpg"))
    for o in objs:
        assert_prediction(o)
    # text mode: one line per image
    rc = cli.main(["predict", str(folder), "--checkpoint", str(cli_data.seed)])
    out, _ = capsys.readouterr()
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == N_TEST
    assert all(line.split(":")[0].endswith(".jpg") and any(c in line for c in config.CLASSES) for line in lines)


@pytest.fixture
def mixed_inputs(cli_data, tmp_path):
    """A good image and four bad inputs: zero-byte .jpg, truncated JPEG, text file, nonexistent path."""
    good = a_test_image(cli_data, "pituitary", 1)
    empty = tmp_path / "empty.jpg"
    empty.touch()
    cut = tmp_path / "cut.jpg"
    raw = good.read_bytes()
    cut.write_bytes(raw[: len(raw) // 2])
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    missing = tmp_path / "missing.jpg"
    return good, [empty, cut, text, missing]


def test_predict_bad_files_text_mode(cli_data, capsys, mixed_inputs):
    good, bad = mixed_inputs
    rc = cli.main(["predict", str(bad[0]), str(good), *map(str, bad[1:]), "--checkpoint", str(cli_data.fast)])
    out, err = capsys.readouterr()
    assert rc == 2
    assert "Traceback" not in err
    errors = error_lines(err)
    assert len(errors) == len(bad), err
    assert len([line for line in err.splitlines() if not line.startswith("brainlib: warning:")]) == len(bad)
    for path, line in zip(bad, errors):
        assert str(path) in line
    assert "empty" in errors[0] and "no such file" in errors[3]
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{good}: ")


def test_predict_bad_files_json_mode(cli_data, capsys, mixed_inputs):
    good, bad = mixed_inputs
    rc = cli.main(
        ["predict", *map(str, bad[:2]), str(good), *map(str, bad[2:]), "--checkpoint", str(cli_data.fast), "--json"]
    )
    out, err = capsys.readouterr()
    assert rc == 2
    assert "Traceback" not in err and len(error_lines(err)) == len(bad)
    objs = parse_json_lines(out)
    assert len(objs) == 1 + len(bad)
    errors = [o for o in objs if "error" in o]
    assert [o["path"] for o in errors] == [str(p) for p in bad]
    for o in errors:
        assert set(o) == {"path", "error"} and "\n" not in o["error"]
    (pred,) = [o for o in objs if "error" not in o]
    assert pred["path"] == str(good)
    assert_prediction(pred)


def test_predict_folder_without_images(cli_data, capsys, tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    rc = cli.main(["predict", str(tmp_path), "--checkpoint", str(cli_data.fast)])
    _, err = capsys.readouterr()
    assert rc == 2
    assert_one_error_line(err, "no image files")


# ----------------------------------------------------------------------------- bad checkpoints
@pytest.fixture(params=["text", "other_classes", "missing"])
def bad_checkpoint(request, cli_data, tmp_path):
    p = tmp_path / f"{request.param}.pt"
    if request.param == "text":
        p.write_text("hello\nworld\n")
    elif request.param == "other_classes":
        ckpt = torch.load(cli_data.fast, weights_only=True)
        ckpt["classes"] = ["cat", "dog", "bird", "fish"]
        torch.save(ckpt, p)
    return p


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_bad_checkpoint_exit_2_one_line(cli_data, capsys, bad_checkpoint, command):
    argv = [command, "--checkpoint", str(bad_checkpoint)]
    if command == "predict":
        argv.append(str(a_test_image(cli_data)))
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    assert rc == 2
    assert_one_error_line(err, str(bad_checkpoint))
    if bad_checkpoint.stem == "other_classes":
        assert "classes" in err
    assert out == ""


def test_checkpoint_with_mismatched_weights_one_line(cli_data, capsys, tmp_path):
    ckpt = torch.load(cli_data.fast, weights_only=True)
    ckpt["model_kwargs"] = {"widths": [8, 16]}
    path = tmp_path / "mismatch.pt"
    torch.save(ckpt, path)
    rc = cli.main(["predict", str(a_test_image(cli_data)), "--checkpoint", str(path)])
    _, err = capsys.readouterr()
    assert rc == 2
    assert_one_error_line(err, str(path), "do not fit")


def test_checkpoint_with_unknown_model_is_bad_input(cli_data, capsys, tmp_path):
    ckpt = torch.load(cli_data.fast, weights_only=True)
    ckpt["model_name"] = "model_from_a_newer_brainlib"
    path = tmp_path / "unknown_model.pt"
    torch.save(ckpt, path)
    rc = cli.main(["predict", str(a_test_image(cli_data)), "--checkpoint", str(path)])
    _, err = capsys.readouterr()
    assert rc == 2
    assert_one_error_line(err, str(path))


def test_evaluate_when_no_testing_image_is_leak_free(cli_data, capsys, tmp_path):
    root = shutil.copytree(cli_data.root, tmp_path / "leaky")
    for c in config.CLASSES:  # Testing = copies of Training images
        for i, f in enumerate(sorted((root / "Testing" / c).glob("*.jpg"))):
            shutil.copy(root / "Training" / c / f"synth_{i:04d}.jpg", f)
    rc = cli.main(["evaluate", "--checkpoint", str(cli_data.fast), "--data", str(root), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out)["leak_free"]["n"] == 0


def test_train_missing_data_folder(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    rc = cli.main(["train", "--data", str(missing), "--out", str(tmp_path / "x.pt")])
    _, err = capsys.readouterr()
    assert rc == 2
    assert_one_error_line(err, str(missing))
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- fetch
def test_fetch_from_local_copy(cli_data, capsys, tmp_path):
    src = shutil.copytree(cli_data.root, tmp_path / "download")
    dest = tmp_path / "dest"
    rc = cli.main(["fetch", "--from", str(src), "--dest", str(dest)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"dataset ready at {dest}" in out
    total = N_TRAIN * len(config.CLASSES)
    assert any(line.split()[:2] == ["Training", str(total)] for line in out.splitlines()), out
    assert any(line.split()[:2] == ["Testing", str(N_TEST * len(config.CLASSES))] for line in out.splitlines())
    assert f"glioma {N_TRAIN}" in out
    assert len(list((dest / "Training" / "glioma").glob("*.jpg"))) == N_TRAIN


def test_fetch_from_nonexistent_path(capsys, tmp_path):
    missing = tmp_path / "nothing_here"
    rc = cli.main(["fetch", "--from", str(missing), "--dest", str(tmp_path / "dest")])
    _, err = capsys.readouterr()
    assert rc == 2
    assert_one_error_line(err, str(missing))
    assert not (tmp_path / "dest").exists()


# ----------------------------------------------------------------------------- audit
def test_audit_json_no_write(cli_data, capsys):
    rc = cli.main(["audit", "--data", str(cli_data.root), "--json", "--no-write"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    s = json.loads(out)
    for key in ("exact_cross_test_images", "near_cross_test_images", "leak_free_test_images", "threshold", "per_class"):
        assert key in s
    assert s["testing_images"] == N_TEST * len(config.CLASSES)
    assert s["leak_free_test_images"] + s["near_cross_test_images"] == s["testing_images"]
    assert list(s["per_class"]) == list(config.CLASSES)
    assert not config.LEAK_FREE_FILE.exists()


def test_audit_text_writes_configured_subset_file(cli_data, capsys):
    rc = cli.main(["audit", "--data", str(cli_data.root), "--threshold", "4"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "pHash threshold 4" in out and "leak-free Testing images" in out
    assert config.LEAK_FREE_FILE.exists()  # the tmp file conftest points the config at
    text = config.LEAK_FREE_FILE.read_text()
    assert "# threshold: 4" in text and "# fingerprint: " in text


def test_audit_unknown_option_is_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["audit", "--no-such-option"])
    assert exc.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_keyboard_interrupt_and_internal_error_exit_codes(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.delenv("BRAINLIB_DEBUG", raising=False)
    monkeypatch.setattr(cli, "cmd_fetch", interrupted)
    assert cli.main(["fetch"]) == 130
    assert capsys.readouterr().err.strip() == "brainlib: error: interrupted"
    monkeypatch.setattr(cli, "cmd_fetch", broken)
    assert cli.main(["fetch"]) == 1
    err = capsys.readouterr().err
    assert_one_error_line(err, "internal error", "RuntimeError", "boom")


# ----------------------------------------------------------------------------- real subprocesses
def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("BRAINLIB_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "brainlib", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_subprocess_help():
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "usage: brainlib" in proc.stdout
    for command in ("fetch", "audit", "train", "evaluate", "predict"):
        assert command in proc.stdout


def test_subprocess_predict_bad_inputs(cli_data, mixed_inputs):
    good, bad = mixed_inputs
    proc = run_cli("predict", str(good), *map(str, bad), "--checkpoint", str(cli_data.fast), "--json")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(error_lines(proc.stderr)) == len(bad)
    objs = parse_json_lines(proc.stdout)
    assert [o["path"] for o in objs] == [str(good), *map(str, bad)]
    assert_prediction(objs[0])


def test_subprocess_argparse_error():
    proc = run_cli("audit", "--no-such-option")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "usage:" in proc.stderr
