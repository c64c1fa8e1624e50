"""The notebooks' set-up (one call at the top of every chapter and solution notebook) and their run times as
recorded by papermill (class plans)."""

from __future__ import annotations

import platform
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from brainlib import __version__, config

if TYPE_CHECKING:
    import pandas as pd


def setup(hide_known_warnings: bool = True) -> config.Profile:
    """Print the profile, device and versions a notebook runs with, hide the one known-harmless warning (the stray
    hidden folder of the Kaggle download, which notebook 01 shows and explains: it passes False), and return the
    active profile."""
    import torch

    if hide_known_warnings:
        warnings.filterwarnings("ignore", message=".*skipped 1 hidden folder")
    profile = config.get_profile()
    print(
        f"profile: {profile.name} | device: {config.get_device()} | brainlib {__version__} | "
        f"torch {torch.__version__} | python {platform.python_version()}"
    )
    return profile


# ----------------------------------------------------------------------------- run times and class plans
SETUP_SECTION = "(set-up)"  # the cells of a notebook before its first level-2 heading


def section_times(notebook) -> pd.DataFrame:
    """Seconds of cell time per section of a notebook (each ``## `` heading starts one; the cells before the first
    form :data:`SETUP_SECTION`) in the run saved in the file: papermill (``make workbook``) records every cell's
    ``metadata.papermill.duration``. Columns: ``code cells``, ``timed`` (how many have a recorded duration) and
    ``seconds`` (their sum; NaN when none of the section's code cells is timed, 0 for a section without code).
    ``attrs["run"]`` is the first line the first code cell printed (profile, device, versions) or None. A missing or
    unreadable file, or one never run with papermill, gives no times, never an error."""
    import json
    import re

    import pandas as pd

    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        cells = []
    section, stats, run = SETUP_SECTION, {SETUP_SECTION: [0, 0, 0.0]}, None
    for cell in cells:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "markdown":
            for line in source.splitlines():
                heading = re.match(r"##(?!#)\s*(.*\S)", line)
                if heading:
                    section = heading.group(1)
                    while section in stats:  # the same heading twice: keep both apart
                        section += " (again)"
                    stats[section] = [0, 0, 0.0]
            continue
        if cell.get("cell_type") != "code":
            continue
        stats[section][0] += 1
        duration = (cell.get("metadata", {}).get("papermill") or {}).get("duration")
        if isinstance(duration, (int, float)):
            stats[section][1] += 1
            stats[section][2] += float(duration)
        if run is None and stats[section][0] == 1 and section == SETUP_SECTION:
            text = "".join(
                "".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("output_type") == "stream"
            )
            run = text.strip().splitlines()[0] if text.strip() else None
    table = pd.DataFrame(
        [
            {"section": s, "code cells": n, "timed": t, "seconds": total if t else (0.0 if n == 0 else float("nan"))}
            for s, (n, t, total) in stats.items()
        ]
    ).set_index("section")
    table.attrs["run"] = run
    return table


def _plan_sections(key: str, titles) -> list[str]:
    """The section titles a plan entry names: the exact title, or a numbered section by its number ("7" names
    "7. Why batch normalisation")."""
    return [t for t in titles if t == key or t.startswith(f"{key}. ") or t.startswith(f"{key} ")]


def lesson_plan(plan, times: pd.DataFrame, lesson_minutes: int = 45) -> str:
    """A class plan as Markdown: ``plan`` lists (lesson, minutes, sections, what to do) in teaching order, sections
    named as :func:`_plan_sections` reads them (:data:`SETUP_SECTION` for the set-up cells); ``times`` is
    :func:`section_times` of the notebook. Each lesson gets a table (minutes from its start, the sections, their cell
    time in the recorded run, what to do live); a lesson after the first starts in a fresh kernel, so it begins by
    running everything above its first section, timed too. Raises ValueError when a lesson is longer than
    ``lesson_minutes`` or an entry names no section; sections with code that no lesson covers are listed."""
    titles = list(times.index)
    position = {t: i for i, t in enumerate(titles)}
    named = {}
    for _, _, sections, _ in plan:
        for key in sections:
            found = _plan_sections(key, titles)
            if not found:
                raise ValueError(f"the plan names a section {key!r} that the notebook does not have")
            named[key] = found

    def seconds(section_titles) -> str:
        rows = times.loc[list(section_titles)]
        rows = rows[rows["code cells"] > 0]
        if rows.empty:
            return "—"
        if rows["seconds"].isna().all():
            return "not recorded"
        total = float(rows["seconds"].sum())
        text = f"{total:.1f} s" if total >= 0.05 else "< 0.1 s"
        return text + (" (part not recorded)" if (rows["timed"] < rows["code cells"]).any() else "")

    lessons = list(dict.fromkeys(entry[0] for entry in plan))
    out = []
    for lesson in lessons:
        entries = [e for e in plan if e[0] == lesson]
        total = sum(e[1] for e in entries)
        if total > lesson_minutes:
            raise ValueError(f"lesson {lesson} takes {total} minutes, more than {lesson_minutes}")
        out.append(f"**Lesson {lesson}** ({total} of {lesson_minutes} minutes)\n")
        first = min(position[t] for e in entries for key in e[2] for t in named[key])
        before = [t for t in titles[:first] if times.loc[t, "code cells"]]
        if lesson != lessons[0] and before:
            out.append(
                f"In a fresh kernel, first run every cell above *{titles[first]}* (Run ▸ Run All Above Selected "
                f"Cell): {seconds(before)} of cell time.\n"
            )
        out.append("| minutes | sections | cell time | live |\n| --- | --- | --- | --- |")
        start = 0
        for _, minutes, sections, activity in entries:
            section_titles = [t for key in sections for t in named[key]]
            label = " · ".join("set-up" if t == SETUP_SECTION else f"*{t}*" for t in section_titles)
            out.append(f"| {start}–{start + minutes} | {label} | {seconds(section_titles)} | {activity} |")
            start += minutes
        out.append("")
    covered = {t for titles_ in named.values() for t in titles_}
    missing = [t for t in titles if times.loc[t, "code cells"] and t not in covered]
    if missing:
        out.append("Not in the plan: " + ", ".join(f"*{t}*" for t in missing) + ".")
    return "\n".join(out)
