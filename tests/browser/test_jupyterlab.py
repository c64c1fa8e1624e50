"""The notebooks in JupyterLab, driven in headless Chromium (``make browser-test``).

What a reader does: open a notebook in JupyterLab, run it, look at the outputs, move the Grad-CAM slider of 05.
Checked here in the smoke profile (``BRAINLIB_PROFILE=smoke``, set for the Jupyter server; the kernels inherit it):

* 05_inside_the_cnn: Run All Cells finishes with every code cell executed and no error output; the slider of its
  ``interact`` widget, moved by keyboard and by typing a value, redraws the Grad-CAM image (its ``src`` changes);
* every numbered notebook: its first three code cells run without an error;
* the error detection itself: a throwaway notebook with a deliberate exception must be reported as failing.

The server serves a temporary copy of ``notebooks/`` (brainlib finds checkpoints, results and data through its own
paths, not through the working directory), so JupyterLab never saves into the repository's notebooks. Without a
dataset (``$BRAINLIB_DATA_DIR`` etc. or ``data/``) the notebooks run on SYNTHETIC phantom stand-ins, like ``make
nbtest``; decoded images go to the usual git-ignored cache (``data/cache`` or ``$BRAINLIB_CACHE_DIR``). Needs
``/usr/bin/chromium`` (or ``$BRAINLIB_CHROMIUM``) and the Python package playwright (no browser download: the system
Chromium is used). Skipped unless ``BRAINLIB_BROWSER_TEST=1``; ``$BRAINLIB_BROWSER_NOTEBOOKS`` serves another folder
of notebooks instead of ``notebooks/`` (e.g. edited copies, to watch the test fail).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

if os.environ.get("BRAINLIB_BROWSER_TEST") != "1":
    pytest.skip("browser test: set BRAINLIB_BROWSER_TEST=1 (or run make browser-test)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (make browser-test does)")

REPO = Path(__file__).resolve().parents[2]
# Where the notebooks are copied from: notebooks/, or another folder (e.g. edited copies, to see the test fail).
NOTEBOOK_DIR = Path(os.environ.get("BRAINLIB_BROWSER_NOTEBOOKS", REPO / "notebooks"))
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
WIDGET_NOTEBOOK = "05_inside_the_cnn.ipynb"
CHROMIUM = os.environ.get("BRAINLIB_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling out, which a closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
RUN_ALL_TIMEOUT_S = float(os.environ.get("BRAINLIB_BROWSER_RUN_TIMEOUT", 900))
FIRST_CELLS = 3
# JupyterLab user settings for the test server: every cell in the DOM (no virtual scrolling, so all prompts and
# outputs can be read), no autosave, no "official Jupyter news?" prompt.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}
STDERR_MIME = "application/vnd.jupyter.stderr"

# Reads the notebook in the page: input prompts of the code cells, error outputs, open dialogs, kernel state.
# JupyterLab renders tracebacks (error outputs) and stderr streams with the stderr MIME type.
READ_NOTEBOOK_JS = """
(stderrMime) => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(e => e.textContent.trim());
  const errors = [...panel.querySelectorAll(`.jp-OutputArea-output[data-mime-type="${stderrMime}"]`)]
    .map(e => e.textContent)
    .filter(t => /Error|Traceback/.test(t));
  const widgetErrors = [...panel.querySelectorAll('.jp-OutputArea-output')]
    .map(e => e.textContent)
    .filter(t => t.includes('Error displaying widget'));
  const dialogs = [...document.querySelectorAll('.jp-Dialog')].map(e => e.innerText);
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return {prompts, errors: errors.concat(widgetErrors), dialogs, kernel: indicator ? indicator.dataset.status : null};
}
"""


@dataclass
class RunResult:
    """What the page showed once execution stopped."""

    prompts: list[str]
    errors: list[str]
    dialogs: list[str]
    page_errors: list[str] = field(default_factory=list)

    def executed(self) -> list[int | None]:
        """Execution count of every code cell (None: not run)."""
        return [int(m.group(1)) if (m := re.fullmatch(r"\[(\d+)\]:", p)) else None for p in self.prompts]

    def describe(self) -> str:
        lines = [f"prompts: {self.prompts}"]
        lines += [f"error output:\n{e[-3000:]}" for e in self.errors]
        lines += [f"dialog: {d}" for d in self.dialogs]
        lines += [f"page error: {e}" for e in self.page_errors]
        return "\n".join(lines)


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data_env(tmp: Path) -> dict[str, str]:
    """Dataset variables for the kernels: the configured datasets, else SYNTHETIC stand-ins (as make nbtest)."""
    from brainlib import config, data, datasets

    env = {}
    try:
        data.validate_layout(config.data_dir())
    except Exception:
        out = tmp / "synthetic"
        subprocess.run([sys.executable, "-m", "brainlib.synthetic", str(out)], check=True, capture_output=True)
        env["BRAINLIB_DATA_DIR"] = str(out)
    for name, spec in datasets.DATASETS.items():
        if spec.env_var in env or spec.env_var == "BRAINLIB_DATA_DIR":
            continue
        try:
            spec.table()
        except Exception:
            out = tmp / f"synthetic-{name}"
            cmd = [sys.executable, "-m", "brainlib.synthetic", str(out), "--dataset", name]
            subprocess.run(cmd, check=True, capture_output=True)
            env[spec.env_var] = str(out)
    return env


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server (smoke profile) serving a temporary copy of notebooks/; shut down afterwards."""
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root = tmp / "workbook"
    shutil.copytree(NOTEBOOK_DIR, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = tmp / "settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ)
    env.update(_data_env(tmp))
    env.update(
        BRAINLIB_PROFILE="smoke",
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),  # no user configuration
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
        IPYTHONDIR=str(tmp / "ipython"),  # no user startup scripts
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    token = secrets.token_hex(16)
    port = _free_port()
    log = tmp / "jupyterlab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.password=",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("wb") as log_file:
        server = subprocess.Popen(cmd, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    server_lab = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                server_lab.api("GET", "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start (rc {server.poll()}):\n{server_lab.log_tail()}")
                time.sleep(0.5)
        yield server_lab
    finally:
        try:
            server_lab.api("POST", "/api/shutdown")
        except Exception:
            server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium chromium-driver (make browser-test does)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, lab):
    """A fresh browser page; the kernels it started are shut down afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    new_page = context.new_page()
    new_page.page_errors = []
    new_page.on("pageerror", lambda error: new_page.page_errors.append(str(error)))
    yield new_page
    context.close()
    lab.shutdown_kernels()


def menu(page, top: str, item: str) -> None:
    """Click a menu bar entry, then one of its items (what a reader would do)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-content .lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def read_notebook(page) -> dict:
    return page.evaluate(READ_NOTEBOOK_JS, STDERR_MIME)


def open_notebook(page, lab: Lab, name: str) -> int:
    """Open notebooks/<name> in a fresh layout, wait for an idle kernel, clear every output and execution count.

    Returns the number of code cells."""
    page.goto(f"{lab.url}/lab/tree/notebooks/{name}?reset&token={lab.token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
    page.wait_for_function(
        "() => { const i = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');"
        " return i && i.dataset.status === 'idle' && /\\| Idle/.test(document.body.innerText); }",
        timeout=120_000,
    )
    menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')]"
        ".every(e => !/\\d/.test(e.textContent))"
    )
    state = read_notebook(page)
    assert state["prompts"] and not state["errors"], state
    return len(state["prompts"])


def wait_for_run(page, n_code: int, timeout_s: float) -> RunResult:
    """Wait until the first ``n_code`` code cells have an execution count, or execution stopped on an error, or a
    dialog (a dead kernel) opened; read what the page shows then."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = read_notebook(page)
        busy = any("*" in p for p in state["prompts"]) or state["kernel"] != "idle"
        done = all(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"][:n_code])
        if state["dialogs"] or (not busy and (done or state["errors"])):
            time.sleep(0.5)  # outputs of the last cell are rendered after its prompt: read once more
            state = read_notebook(page)
            return RunResult(state["prompts"], state["errors"], state["dialogs"], list(page.page_errors))
        if time.monotonic() > deadline:
            result = RunResult(state["prompts"], state["errors"], state["dialogs"], list(page.page_errors))
            pytest.fail(f"execution did not finish in {timeout_s:.0f} s\n{result.describe()}")
        time.sleep(0.5)


def run_all(page, lab: Lab, name: str) -> RunResult:
    n_code = open_notebook(page, lab, name)
    menu(page, "Run", "Run All Cells")
    return wait_for_run(page, n_code, RUN_ALL_TIMEOUT_S)


def run_first_code_cells(page, lab: Lab, name: str, n: int) -> RunResult:
    """Select the cell after the n-th code cell and use Run > Run All Above Selected Cell."""
    n_code = open_notebook(page, lab, name)
    if n >= n_code:
        menu(page, "Run", "Run All Cells")
        return wait_for_run(page, n_code, RUN_ALL_TIMEOUT_S)
    cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
    is_code = cells.evaluate_all("cells => cells.map(c => c.classList.contains('jp-CodeCell'))")
    nth_code = [i for i, code in enumerate(is_code) if code][n - 1]
    target = cells.nth(nth_code + 1)
    target.locator(".jp-InputPrompt").click()
    page.wait_for_function(
        "i => document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')[i]"
        ".classList.contains('jp-mod-active')",
        arg=nth_code + 1,
    )
    menu(page, "Run", "Run All Above Selected Cell")
    return wait_for_run(page, n, RUN_ALL_TIMEOUT_S / 2)


def assert_clean(result: RunResult, n_code: int) -> None:
    assert not result.errors, f"error output in the notebook\n{result.describe()}"
    assert not result.dialogs, f"a dialog opened (kernel died?)\n{result.describe()}"
    executed = result.executed()
    # A fresh kernel numbers the executions 1, 2, ... in order: every cell ran, once, in this session.
    assert executed[:n_code] == list(range(1, n_code + 1)), result.describe()
    assert all(count is None for count in executed[n_code:]), result.describe()


def image_sources(interact) -> list[str]:
    return interact.locator(".widget-output img").evaluate_all("imgs => imgs.map(i => i.getAttribute('src'))")


def wait_for_new_images(page, interact, before: list[str]) -> list[str]:
    """Wait until the widget's output shows image(s) other than ``before`` (the callback redrew the panel)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = image_sources(interact)
        if now and all(now) and now != before:
            return now
        time.sleep(0.25)
    pytest.fail(f"the Grad-CAM image did not change after moving the slider\n{read_notebook(page)}")


@pytest.mark.skipif(WIDGET_NOTEBOOK not in NOTEBOOKS, reason=f"no notebooks/{WIDGET_NOTEBOOK}")
def test_05_runs_and_gradcam_slider_redraws(page, lab):
    result = run_all(page, lab, WIDGET_NOTEBOOK)
    assert_clean(result, len(result.prompts))

    interact = page.locator(".jp-OutputArea-output .widget-interact").last
    interact.wait_for(state="visible")
    slider = interact.locator(".widget-slider")
    readout = slider.locator(".widget-readout")
    assert readout.inner_text().strip() == "0"
    first = wait_for_new_images(page, interact, [])

    # Keyboard: focus the slider handle and press the right arrow key (index 0 -> 1).
    slider.locator(".noUi-handle").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("e => e.textContent.trim() === '1'", arg=readout.element_handle())
    second = wait_for_new_images(page, interact, first)

    # Typing a value into the slider's readout (index 1 -> 2).
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    page.wait_for_function("e => e.textContent.trim() === '2'", arg=readout.element_handle())
    third = wait_for_new_images(page, interact, second)
    assert third != first

    # Errors raised inside the widget callback land in its output area.
    state = read_notebook(page)
    assert not state["errors"] and not state["dialogs"], state


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_first_code_cells_run(page, lab, name):
    result = run_first_code_cells(page, lab, name, FIRST_CELLS)
    assert_clean(result, FIRST_CELLS)


def test_error_detection_catches_an_exception(page, lab):
    """Self-check: a throwaway notebook whose second code cell raises must be seen as failing."""
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# deliberately broken (browser-test self-check)"},
        {"cell_type": "code", "metadata": {}, "source": "print('first cell ran')", "outputs": []},
        {"cell_type": "code", "metadata": {}, "source": "raise ValueError('deliberate failure')", "outputs": []},
        {"cell_type": "code", "metadata": {}, "source": "print('never reached')", "outputs": []},
    ]
    for number, cell in enumerate(cells):
        cell["id"] = f"selfcheck-{number}"
        if cell["cell_type"] == "code":
            cell["execution_count"] = None
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    name = "zz_browser_selfcheck_broken.ipynb"
    (lab.root / "notebooks" / name).write_text(json.dumps(notebook))

    result = run_all(page, lab, name)
    assert any("ValueError" in e and "deliberate failure" in e for e in result.errors), result.describe()
    assert result.executed()[:2] == [1, 2] and result.executed()[2] is None, result.describe()
    with pytest.raises(AssertionError, match="error output"):
        assert_clean(result, len(result.prompts))
