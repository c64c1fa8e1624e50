"""brainlib.files: atomic writes."""

from __future__ import annotations

from brainlib import files


def test_atomic_write_leaves_no_temporary(tmp_path):
    target = tmp_path / "x" / "r.json"
    files.atomic_write_text(target, "{}")
    files.atomic_write_text(target, '{"a": 1}')
    assert target.read_text() == '{"a": 1}' and [p.name for p in target.parent.iterdir()] == ["r.json"]
