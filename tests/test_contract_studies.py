"""The CLI contract on the newer surfaces (cross-validation, sweeps, fetchers, calibrate, benchmark scripts): exit 0
all good, 2 bad input with one line per problem, 1 never for a user's mistake, 130 interrupted; nothing shipped or
committed rewritten by a smoke or synthetic run. One test per attack case; all data here is SYNTHETIC."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_cli_contract import run_main  # cli.main with stdout and stderr captured

from brainlib import config, crossval, datasets, engine, recipes, robustness, sweep
from brainlib.errors import DataError, SweepError
from brainlib.synthetic import write_synthetic_figshare

REPO = Path(__file__).resolve().parents[1]


def _one_error_line(err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if not line.startswith("brainlib: warning:")]
    assert len(lines) == 1 and lines[0].startswith("brainlib: error:") and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], err


@pytest.fixture
def figshare(tmp_path):
    """A fresh SYNTHETIC figshare-cheng copy per test, free to damage."""
    return write_synthetic_figshare(tmp_path / "fs", per_class_per_fold=2, size=48)


def _crossval(root, *extra):
    return run_main(["crossval", "--data", str(root), "--json", *extra])


@pytest.fixture(autouse=True)
def smoke(monkeypatch):
    monkeypatch.setenv("BRAINLIB_PROFILE", "smoke")


# ----------------------------------------------------------------------------- shipped and committed files
def _tiny_checkpoint(path: Path, recipe: str = "fast") -> Path:
    cfg = recipes.train_config(recipe, model_kwargs={"input_size": 32})
    torch.manual_seed(0)
    model = engine.build_model(cfg.model, **cfg.model_kwargs)
    engine.atomic_save(engine.checkpoint_dict(model, cfg), path)
    return path


def test_smoke_calibrate_never_rewrites_a_shipped_checkpoint(synthetic_root, monkeypatch):
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(synthetic_root))
    shipped = _tiny_checkpoint(recipes.checkpoint())
    before = shipped.read_bytes()
    rc, _, err = run_main(["calibrate"])
    _one_error_line(err, "shipped checkpoint", "smoke profile", "--out")
    assert rc == 2 and shipped.read_bytes() == before
    copy = config.RUNS_DIR / "calibrated.pt"
    rc, _, err = run_main(["calibrate", "--out", str(copy)])
    assert rc == 0, err
    assert shipped.read_bytes() == before and "temperature" in engine.read_checkpoint(copy)


def test_calibrate_refuses_a_read_only_checkpoint_before_the_fit(synthetic_root, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(synthetic_root))
    ckpt = _tiny_checkpoint(tmp_path / "ro.pt")
    ckpt.chmod(0o444)
    from brainlib import evaluation

    monkeypatch.setattr(evaluation, "fit_temperature", lambda *a, **k: pytest.fail("fitted a read-only file"))
    rc, _, err = run_main(["calibrate", "--checkpoint", str(ckpt)])
    _one_error_line(err, "read-only")
    assert rc == 2 and (ckpt.stat().st_mode & 0o777) == 0o444


def test_atomic_save_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "x.pt"
    engine.atomic_save({"a": 1}, path)
    path.chmod(0o640)
    engine.atomic_save({"a": 2}, path)
    assert (path.stat().st_mode & 0o777) == 0o640


def test_smoke_robustness_table_never_replaces_the_committed_one(monkeypatch, synthetic_root):
    assert robustness.table_path() == config.RESULTS_DIR / "smoke" / "robustness.csv"
    monkeypatch.setenv("BRAINLIB_PROFILE", "full")
    assert robustness.table_path() == config.RESULTS_DIR / "robustness.csv"
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(synthetic_root))
    assert robustness.table_path() == config.RESULTS_DIR / "synthetic" / "robustness.csv"


@pytest.mark.slow
@pytest.mark.parametrize("script", ["benchmarks/benchmark.py", "benchmarks/robustness.py"])
def test_benchmark_scripts_import_this_checkouts_brainlib(script, tmp_path):
    decoy = tmp_path / "brainlib"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('another checkout of brainlib')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(REPO / script), "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr


# ----------------------------------------------------------------------------- interrupts and remote work
def _slow_job(job: dict) -> dict:  # module level: spawned workers import it
    Path(job["marker"]).write_text("started")
    time.sleep(job["seconds"])
    return job


SWEEP_SCRIPT = """
import signal, sys
sys.path.insert(0, {tests!r})
from brainlib import sweep
from test_contract_studies import _slow_job

def stop(signum, frame):
    raise KeyboardInterrupt

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop)
    jobs = [{{"marker": {folder!r} + f"/job{{i}}", "seconds": 60}} for i in range(6)]
    try:
        sweep.run_jobs(_slow_job, jobs, workers=2)
    except KeyboardInterrupt:
        sys.exit(130)
"""


@pytest.mark.slow
def test_sigterm_stops_a_local_pool_within_seconds_and_starts_nothing_queued(tmp_path):
    script = tmp_path / "sweep_script.py"
    script.write_text(SWEEP_SCRIPT.format(tests=str(REPO / "tests"), folder=str(tmp_path)))
    proc = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.time() + 60
    while len(list(tmp_path.glob("job*"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert len(list(tmp_path.glob("job*"))) == 2, "the two workers never started"
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=30)
    assert rc == 130 and time.time() - t0 < 10
    time.sleep(1)
    assert len(list(tmp_path.glob("job*"))) == 2  # none of the four queued jobs started


@pytest.fixture
def server():
    """A TCP server on localhost that does what ``behaviour`` says with each connection."""
    servers = []

    def start(behaviour: str) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        servers.append(sock)

        def serve():
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                if behaviour == "banner":
                    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
                threading.Thread(target=lambda c=conn: (time.sleep(30), c.close()), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for s in servers:
        s.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "kind, message",
    [
        ("silent", "no Dask scheduler answered"),  # an HTTP server waits for a request
        ("banner", "not a Dask scheduler"),  # an SSH server greets with text
        ("refused", "cannot connect"),
        ("ucx", "only tcp://"),
        ("tls", "only tcp://"),
        ("garbage", "expected tcp://host:port"),
    ],
)
def test_scheduler_addresses_are_checked_within_a_bounded_time(server, monkeypatch, kind, message):
    monkeypatch.setattr(sweep, "SCHEDULER_TIMEOUT", 1.5)
    address = {
        "silent": lambda: server("silent"),
        "banner": lambda: server("banner"),
        "refused": lambda: f"tcp://127.0.0.1:{_free_port()}",
        "ucx": lambda: "ucx://127.0.0.1:8786",
        "tls": lambda: "tls://127.0.0.1:8786",
        "garbage": lambda: "tcp://nohost",
    }[kind]()
    t0 = time.time()
    with pytest.raises(SweepError, match=message):
        sweep.check_scheduler(address, timeout=sweep.SCHEDULER_TIMEOUT)
    assert time.time() - t0 < 5


def test_crossval_with_a_bad_scheduler_exits_2(figshare):
    rc, _, err = _crossval(figshare, "--scheduler", "ucx://127.0.0.1:8786")
    _one_error_line(err, "only tcp://")
    assert rc == 2


# ----------------------------------------------------------------------------- bad data refused before training
@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr(engine, "train", lambda *a, **k: pytest.fail("trained despite bad data"))


def _edit_csv(path: Path, fn) -> None:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    fn(table)
    table.to_csv(path, index=False)


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("fold", "1e20", "fold must be a whole number"),
        ("fold", "nan", "fold must be a whole number"),
        ("fold", "", "fold must be a whole number"),
        ("fold", "1.5", "fold must be a whole number"),
        ("fold", "two", "fold must be a whole number"),
        ("index", "-3", "index must be a whole number"),
    ],
)
def test_fold_values_that_are_not_whole_numbers_are_refused_with_file_and_line(
    figshare, no_training, column, value, message
):
    _edit_csv(figshare / "folds.csv", lambda t: t.__setitem__(column, [value] + list(t[column][1:])))
    rc, _, err = _crossval(figshare)
    _one_error_line(err, message, "folds.csv line 2")
    assert rc == 2


def test_an_image_listed_in_two_folds_is_refused(figshare, no_training):
    table = pd.read_csv(figshare / "folds.csv")
    twice = pd.concat([table, table.iloc[[0]].assign(fold=5)])
    twice.to_csv(figshare / "folds.csv", index=False)
    rc, _, err = _crossval(figshare)
    _one_error_line(err, "listed more than once", "folds.csv")
    assert rc == 2


def test_a_missing_class_folder_is_refused(figshare, no_training):
    shutil.rmtree(figshare / "images" / "pituitary")
    rc, _, err = _crossval(figshare)
    _one_error_line(err, "no images of class pituitary")
    assert rc == 2


@pytest.mark.parametrize(
    "edit, message",
    [
        ("nan", "x_center must be a number"),
        ("text", "x_center must be a number"),
        ("drop", "no box for 1 image"),
        ("duplicate", "more than one box"),
    ],
)
def test_boxes_are_checked_before_any_fold_trains(figshare, no_training, edit, message):
    boxes = pd.read_csv(figshare / "boxes.csv", dtype=str, keep_default_na=False)
    if edit == "nan":
        boxes.loc[3, "x_center"] = "nan"
    elif edit == "text":
        boxes.loc[3, "x_center"] = "left"
    elif edit == "drop":
        boxes = boxes.drop(index=3)
    else:
        boxes = pd.concat([boxes, boxes.iloc[[3]]])
    boxes.to_csv(figshare / "boxes.csv", index=False)
    rc, _, err = _crossval(figshare)
    _one_error_line(err, message, "boxes.csv")
    assert rc == 2


def test_an_edited_box_is_not_served_stale(figshare, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "RESULTS_DIR", tmp_path / "results")
    rc, out, err = _crossval(figshare, "--folds", "1")
    assert rc == 0, err
    _edit_csv(figshare / "boxes.csv", lambda t: t.__setitem__("width", ["0.9"] * len(t)))
    rc, out, err = _crossval(figshare, "--folds", "1")
    assert rc == 0 and '"trained_now": 1' in out and "tumor boxes changed" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_named_like_an_image_never_blocks_the_fingerprint(figshare, no_training):
    victim = next((figshare / "images" / "glioma").iterdir())
    victim.unlink()
    os.mkfifo(victim)
    table = datasets.get("figshare-cheng").table(figshare)  # returns: the FIFO is not an image file
    assert victim.relative_to(figshare).as_posix() not in set(table["path"])
    datasets.content_fingerprint(figshare, list(table["path"]))


@pytest.mark.parametrize("folds, message", [("1,1", "more than once"), ("7", "no fold")])
def test_bad_fold_lists_are_refused(figshare, no_training, folds, message):
    rc, _, err = _crossval(figshare, "--folds", folds)
    assert rc == 2 and message in err and "Traceback" not in err


def test_fewer_than_three_folds_is_said_in_words(tmp_path, no_training):
    root = write_synthetic_figshare(tmp_path / "fs2", per_class_per_fold=2, folds=2, size=48)
    rc, _, err = _crossval(root)
    _one_error_line(err, "needs at least 3")
    assert rc == 2


# ----------------------------------------------------------------------------- exit 2, not 1, for a user's mistake
def test_fetch_dest_under_a_regular_file_is_bad_input(figshare, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for dataset in ("figshare-cheng", "brain-tumor-mri"):
        rc, _, err = run_main(["fetch", "--dataset", dataset, "--from", str(figshare), "--dest", str(afile / "d")])
        _one_error_line(err, "is a file, not a folder")
        assert rc == 2


def test_figshare_mat_files_that_are_not_matlab_are_bad_input(tmp_path):
    src = tmp_path / "article"
    src.mkdir()
    (src / "1.mat").write_text("not matlab at all")
    (src / "cvind.mat").write_text("neither")
    rc, _, err = run_main(["fetch", "--dataset", "figshare-cheng", "--from", str(src), "--dest", str(tmp_path / "o")])
    _one_error_line(err, "cvind.mat", "not a MATLAB file")
    assert rc == 2 and not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "cvind, message",
    [
        ({"other": np.ones(3)}, "no 'cvind'"),
        ({"cvind": np.array([1.0, np.nan, 2.0])}, "whole numbers"),
        ({"cvind": np.array([1.0, 1e20, 2.0])}, "whole numbers"),
        ({"cvind": np.array([1.0, 1.5, 2.0])}, "whole numbers"),
    ],
)
def test_bad_cvind_is_bad_input(tmp_path, cvind, message):
    from scipy.io import savemat

    from brainlib import fetchers

    savemat(tmp_path / "cvind.mat", cvind)
    with pytest.raises(DataError, match=message):
        fetchers._read_folds(tmp_path / "cvind.mat")


def test_one_corrupt_tcga_slice_is_skipped_with_a_warning(tmp_path):
    from test_fetchers import _write_kaggle_3m

    src = _write_kaggle_3m(tmp_path / "src")
    victim = next(src.rglob("*_7.tif"))
    victim.write_bytes(b"II*\x00 truncated")
    rc, out, err = run_main(["fetch", "--dataset", "tcga-lgg", "--from", str(src), "--dest", str(tmp_path / "t")])
    assert rc == 0, err
    assert "unreadable slice(s) skipped" in err and victim.name in err and "2 patients" in out


def test_fetch_errors_name_the_users_zip_not_a_temporary_folder(tmp_path):
    with zipfile.ZipFile(tmp_path / "mine.zip", "w") as zf:
        zf.writestr("readme.txt", "no dataset here")
    for dataset in ("figshare-cheng", "tcga-lgg"):
        rc, _, err = run_main(
            ["fetch", "--dataset", dataset, "--from", str(tmp_path / "mine.zip"), "--dest", str(tmp_path / dataset)]
        )
        assert rc == 2 and "mine.zip" in err and ".fetch-" not in err, err


def test_crossval_refuses_an_unwritable_results_folder_before_training(figshare, tmp_path, monkeypatch, no_training):
    blocker = tmp_path / "results"
    blocker.write_text("a file where the results folder should be")
    monkeypatch.setattr(config, "RESULTS_DIR", blocker)
    rc, _, err = _crossval(figshare)
    _one_error_line(err, "cannot write results")
    assert rc == 2


def test_an_unwritable_image_cache_costs_a_warning_not_the_command(synthetic_root, tmp_path, monkeypatch):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    monkeypatch.setenv("BRAINLIB_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(synthetic_root))
    ckpt = _tiny_checkpoint(tmp_path / "c.pt")
    rc, out, err = run_main(["evaluate", "--checkpoint", str(ckpt), "--json"])
    assert rc == 0, err
    assert err.count("cannot write cache files") == 1 and "Traceback" not in err


def test_a_cached_fold_lacking_fields_is_recomputed(figshare, tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(config, "RESULTS_DIR", tmp_path / "results")
    assert _crossval(figshare, "--folds", "1")[0] == 0
    (cached,) = (tmp_path / "results" / "runs" / "smoke" / "patient-kfold-figshare-cheng").glob("*.json")
    record = json.loads(cached.read_text())
    cached.write_text(json.dumps({"key": record["key"], "fold": 1}))
    rc, out, err = _crossval(figshare, "--folds", "1")
    assert rc == 0 and '"trained_now": 1' in out and "lacks" in err


def test_predict_reports_an_unreadable_sub_folder_and_still_predicts_the_rest(synthetic_root, tmp_path, monkeypatch):
    folder = tmp_path / "imgs"
    (folder / "locked").mkdir(parents=True)
    for f in list((synthetic_root / "Testing" / "glioma").iterdir())[:2]:
        shutil.copy(f, folder / f.name)
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    ckpt = _tiny_checkpoint(tmp_path / "c.pt")
    rc, out, err = run_main(["predict", str(folder), "--checkpoint", str(ckpt), "--json"])
    assert rc == 2 and "locked: cannot read the folder" in err
    assert sum('"label"' in line for line in out.splitlines()) == 2


# ----------------------------------------------------------------------------- small things
def test_predict_of_an_empty_path_is_refused_not_the_current_folder(tmp_path):
    ckpt = _tiny_checkpoint(tmp_path / "c.pt")
    rc, out, err = run_main(["predict", "", "--checkpoint", str(ckpt)])
    assert rc == 2 and "empty path" in err and out == ""


def test_a_newline_in_a_file_name_stays_on_one_error_line(tmp_path):
    ckpt = _tiny_checkpoint(tmp_path / "c.pt")
    bad = tmp_path / "two\nlines.jpg"
    bad.write_bytes(b"not a jpeg")
    rc, _, err = run_main(["predict", str(bad), "--checkpoint", str(ckpt)])
    _one_error_line(err, "two\\nlines.jpg")
    assert rc == 2


def test_a_checkpoint_whose_input_size_disagrees_with_its_model_is_refused(tmp_path):
    ckpt = _tiny_checkpoint(tmp_path / "c.pt")
    state = torch.load(ckpt, weights_only=True)
    state["preprocessing"]["size"] = 64  # the model was built for 32 px
    torch.save(state, ckpt)
    rc, _, err = run_main(["predict", str(tmp_path), "--checkpoint", str(ckpt)])
    _one_error_line(err, "disagrees with the model's input size")
    assert rc == 2


def test_the_same_warning_is_printed_once_per_command(figshare, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "RESULTS_DIR", tmp_path / "results")
    (figshare / "images" / "glioma" / "1.jpg").unlink()  # listed in folds.csv, missing: warned on every read
    rc, _, err = _crossval(figshare, "--folds", "1")
    assert rc == 0, err
    assert err.count("images listed in folds.csv are missing") == 1


def test_crossval_recipe_and_model_mean_recipe_and_architecture(figshare, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "RESULTS_DIR", tmp_path / "results")
    rc, _, err = _crossval(figshare, "--recipe", "robust", "--model", "seed")
    _one_error_line(err, "does not take")
    assert rc == 2
    records = crossval.run_crossval("figshare-cheng", "fast", [1], root=figshare, model="seed", progress=False)
    assert records[0]["config"]["model"] == "seed" and records[0]["recipe"] == "fast-seed"
