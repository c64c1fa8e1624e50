"""Stamp the notebooks for Google Colab: an "Open in Colab" badge in the title cell and a first code cell that,
on Colab only, installs brainlib from the repository and gets the data (the real data with a Kaggle token,
otherwise the labelled SYNTHETIC phantoms). The badge needs the repository's public GitHub address, which only
its publisher knows:  ``python -m brainlib.colab OWNER/NAME`` (or ``make colab REPO=OWNER/NAME``) once, then commit.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from brainlib import config

SETUP_TAG = "colab-setup"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\n*")
REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")

SETUP = """# Google Colab only (does nothing elsewhere): install brainlib from its repository and get the data.
import os
import subprocess
import sys

if "google.colab" in sys.modules and not os.path.exists("/content/brainlib-workbook"):
    repository = "https://github.com/{repo}"
    subprocess.run(["git", "clone", "--depth", "1", repository, "/content/brainlib-workbook"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/brainlib-workbook"], check=True)
    os.chdir("/content/brainlib-workbook/notebooks{subdir}")
    if os.path.exists(os.path.expanduser("~/.kaggle/kaggle.json")) or os.environ.get("KAGGLE_USERNAME"):
        subprocess.run(["brainlib", "fetch"], check=True)  # the real Kaggle data (needs your Kaggle API token)
    else:  # no Kaggle account: the SYNTHETIC phantoms, for the mechanics only
        subprocess.run([sys.executable, "-m", "brainlib.synthetic", "/content/synthetic"], check=True)
        os.environ["BRAINLIB_DATA_DIR"] = "/content/synthetic"
        print("No Kaggle token found: running on SYNTHETIC phantom data; its numbers say nothing about MRI.")"""


def stamp(path: str | Path, repo: str, branch: str = "main") -> bool:
    """Add (or update) the badge and the Colab set-up cell of one notebook; True when it changed."""
    import nbformat

    if not REPO_RE.match(repo):
        raise ValueError(f"repository must look like OWNER/NAME, got {repo!r}")
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    try:
        rel = path.resolve().relative_to(config.PROJ_ROOT.resolve()).as_posix()
    except ValueError:  # a notebook outside this checkout: link it as notebooks/<its folder>/<name>
        rel = f"notebooks/{'solutions/' if path.parent.name == 'solutions' else ''}{path.name}"
    badge = f"[![Open In Colab]({BADGE})](https://colab.research.google.com/github/{repo}/blob/{branch}/{rel})\n\n"
    title = nb.cells[0]
    title.source = badge + BADGE_RE.sub("", title.source)
    subdir = "/solutions" if path.parent.name == "solutions" else ""
    setup = SETUP.format(repo=repo, subdir=subdir)
    existing = [c for c in nb.cells if SETUP_TAG in c.metadata.get("tags", [])]
    if existing:
        existing[0].source = setup
    else:
        cell = nbformat.v4.new_code_cell(setup)
        cell.metadata["tags"] = [SETUP_TAG]
        nb.cells.insert(1, cell)
    if nbformat.writes(nb) == before:
        return False
    nbformat.write(nb, path)
    return True


def notebooks() -> list[Path]:
    folder = config.PROJ_ROOT / "notebooks"
    return sorted(folder.glob("[0-9][0-9]_*.ipynb")) + sorted((folder / "solutions").glob("[0-9][0-9]_*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m brainlib.colab", description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", help="the repository on GitHub, OWNER/NAME")
    parser.add_argument("--branch", default="main")
    args = parser.parse_args(argv)
    try:
        changed = [p.name for p in notebooks() if stamp(p, args.repo, args.branch)]
    except ValueError as e:
        print(f"brainlib: error: {e}", file=sys.stderr)
        return 2
    print(f"{len(changed)} notebook(s) stamped for Colab ({args.repo}@{args.branch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
