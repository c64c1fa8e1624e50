"""The pre-registered selection (results/preregistration.md): its registration time is stated and committed before
every run it governs; a governed run made earlier, or without a creation time, is caught."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from brainlib import robustness, studies

ROOT = Path(__file__).resolve().parents[1]
REGISTRATION = ROOT / "results" / robustness.PREREGISTRATION  # the committed file (tests redirect RESULTS_DIR)


def test_the_registration_states_its_time():
    registered = robustness.registered_at(REGISTRATION)
    assert registered.tzinfo is not None and registered.year >= 2026


def test_a_governed_run_made_before_the_registration_is_caught():
    registered = robustness.registered_at(REGISTRATION)
    before = (registered - timedelta(minutes=1)).isoformat()
    after = (registered + timedelta(minutes=1)).isoformat()
    records = [
        {"key": "a", "study": robustness.STUDY, "created": before},
        {"key": "b", "study": robustness.STUDY, "created": after},
        {"key": "c", "study": robustness.STUDY},
        {"key": "d", "created": before},  # not governed (an earlier study's run)
    ]
    problems = robustness.registration_problems(records, registered)
    assert [p.split(":")[0] for p in problems] == ["a", "c"]


def test_new_records_carry_their_creation_time(tmp_path):
    cache = studies.ResultCache(tmp_path)
    path = cache.put(studies.KAGGLE_HOLDOUT, "full", "x", {"key": "k"})
    created = datetime.fromisoformat(json.loads(path.read_text())["created"])
    assert abs((datetime.now(created.tzinfo) - created).total_seconds()) < 60


def _governed(root: Path) -> list[tuple[Path, dict]]:
    out = []
    for path in sorted((root / "results" / "runs").rglob("*.json")):
        record = json.loads(path.read_text())
        if record.get("study") == robustness.STUDY:
            out.append((path, record))
    return out


def test_every_committed_governed_run_came_after_the_registration():
    records = [r for _, r in _governed(ROOT)]
    assert robustness.registration_problems(records, robustness.registered_at(REGISTRATION)) == []


def _first_commit_time(path: Path) -> datetime | None:
    out = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%cI", "--", str(path.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    return datetime.fromisoformat(out[-1]) if out else None


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs the git history")
def test_the_registration_was_committed_before_every_run_it_governs():
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True)
    if shallow.stdout.strip() == "true":
        pytest.skip("a shallow clone has no history to check")
    registration = _first_commit_time(REGISTRATION)
    assert registration is not None, "the pre-registration is not committed"
    for path, _ in _governed(ROOT):
        committed = _first_commit_time(path)
        assert committed is None or committed > registration, f"{path.name} was committed before the registration"
