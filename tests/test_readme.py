"""brainlib.readme: the README's result tables are rendered from the committed results files, and a table that
disagrees with its file is caught."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from brainlib import readme

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"  # the committed files (tests redirect config.RESULTS_DIR)


def test_the_committed_readme_tables_agree_with_their_results_files():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- results:headline -->" in text
    assert readme.stale_blocks(text, RESULTS) == []


def test_a_changed_result_makes_the_readme_stale(tmp_path):
    shutil.copy(RESULTS / "headline.csv", tmp_path / "headline.csv")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    csv = (tmp_path / "headline.csv").read_text()
    (tmp_path / "headline.csv").write_text(csv.replace("98.3219", "97.3219"))
    assert readme.stale_blocks(text, tmp_path) == ["headline"]
    assert "| **97.3 %** |" in readme.render(text, tmp_path)


def test_an_unknown_block_is_an_error():
    with pytest.raises(KeyError, match="no renderer"):
        readme.render("<!-- results:nope -->\nx\n<!-- /results -->\n", RESULTS)
