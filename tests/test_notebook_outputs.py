"""The committed notebooks as a reader opens them: executed once, top to bottom, without errors, and with outputs
that read cleanly (no NumPy scalar reprs, no machine paths, no frozen progress bars, no stray widgets), and the
run time their opening quotes is the one their own committed run took."""

from __future__ import annotations

import json
import re

import pytest

from brainlib import config

NOTEBOOK_DIR = config.PROJ_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")) + sorted(
    (NOTEBOOK_DIR / "solutions").glob("[0-9][0-9]_*_solutions.ipynb")
)
WIDGET = "application/vnd.jupyter.widget-view+json"
SCALAR_REPR = re.compile(r"\bnp\.(?:float|int|uint|bool|str)_?\d*\(")
# an absolute path on someone's machine: a home, user, scratch or temporary folder, or a Windows user folder
ABSOLUTE_ROOTS = ("work", "root", "home", "Users", "tmp", "private")
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:" + "|".join(ABSOLUTE_ROOTS) + r")/|[A-Z]:\\\\Users")
PROGRESS = re.compile(r"(\d{1,3})%\|")
RUN_TIME = re.compile(r"\*\*Run time\*\*(?:[^\n]|\n(?!\n))*")  # the opening's run-time paragraph
ABOUT = re.compile(r"about (\d+(?:\.\d+)?) ?(s|seconds|minutes?)\b")


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def _texts(output):
    """Every text a reader sees in one output: streams, plain-text and HTML reprs, error lines."""

    def join(v):
        return v if isinstance(v, str) else "".join(v)

    if "text" in output:
        yield join(output["text"])
    for key in ("text/plain", "text/html", "text/markdown"):
        if key in output.get("data", {}):
            yield join(output["data"][key])
    if output.get("output_type") == "error":
        yield "\n".join(output.get("traceback", []))


def _shown(text):
    """What a terminal-style stream shows: the part of each line after its last carriage return."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def test_there_are_notebooks_to_check():
    assert len(NOTEBOOKS) >= 14  # the seven chapters and their solutions


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_code_cell_ran_once_in_order_without_error(path):
    nb = _load(path)
    counts = [c.get("execution_count") for c in _code_cells(nb)]
    assert None not in counts, f"{path.name}: {counts.count(None)} code cell(s) never executed"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: cells not executed top to bottom once"
    for cell in _code_cells(nb):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{path.name}: {out.get('ename')}: {out.get('evalue')}"
            if out.get("name") == "stderr":
                assert "Traceback" not in "".join(out["text"]), f"{path.name}: a traceback in stderr"
    papermill = nb["metadata"].get("papermill", {})
    assert papermill.get("exception") in (None, False), f"{path.name}: the committed run raised"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_read_cleanly(path):
    nb = _load(path)
    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"])
        assert not MACHINE_PATH.search(source), f"{path.name} cell {i}: a machine path in the source"
        for out in cell.get("outputs", []):
            if WIDGET in out.get("data", {}):
                # the one widget the workbook shows on purpose: 05's image slider (interact)
                assert path.name == "05_inside_the_cnn.ipynb" and "interact(" in source, (
                    f"{path.name} cell {i}: a widget output (a progress bar?) in the committed run"
                )
                continue
            for text in _texts(out):
                found = SCALAR_REPR.search(text)
                assert not found, f"{path.name} cell {i}: a NumPy scalar repr {found.group(0)!r} in the output"
                found = MACHINE_PATH.search(text)
                assert not found, f"{path.name} cell {i}: a machine path {found.group(0)!r} in the output"
                frozen = [int(p) for p in PROGRESS.findall(_shown(text)) if int(p) < 100]
                assert not frozen, f"{path.name} cell {i}: a progress bar left at {frozen[0]} %"


def test_the_slider_covers_the_images_it_pages_through():
    nb = _load(NOTEBOOK_DIR / "05_inside_the_cnn.ipynb")
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and "interact(" in "".join(c["source"]))
    printed = "".join("".join(o.get("text", "")) for o in cell["outputs"])
    n = int(re.search(r"one of the (\d+) Testing images", printed).group(1))
    state = nb["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    sliders = [m["state"] for m in state.values() if m.get("model_name") == "IntSliderModel"]
    assert sliders, "05: the slider's state was not saved with the notebook"
    assert all(s["max"] == n - 1 and s.get("min", 0) == 0 for s in sliders), "05: the slider's range is stale"
    bars = [m for m in state.values() if m.get("model_name") == "FloatProgressModel"]
    assert not bars, "05: a progress bar's widget state was saved with the notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_quoted_run_time_is_the_committed_runs(path):
    nb = _load(path)
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    paragraph = RUN_TIME.search(markdown)
    quoted = ABOUT.search(paragraph.group(0)) if paragraph else None
    if quoted is None:
        pytest.skip(f"{path.name} quotes no run time in seconds or minutes")
    seconds = float(quoted.group(1)) * (60 if quoted.group(2).startswith("minute") else 1)
    took = nb["metadata"].get("papermill", {}).get("duration")
    assert took, f"{path.name}: the committed run has no papermill duration"
    assert took / 1.5 <= seconds <= took * 1.5, f"{path.name}: quotes about {seconds:.0f} s, its run took {took:.0f} s"
