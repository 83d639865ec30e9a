"""Reports and the local record are written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.files import write_atomically


def test_a_file_is_replaced_whole_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old", encoding="utf-8")
    write_atomically(path, '{"new": true}\n')
    assert path.read_text(encoding="utf-8") == '{"new": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_write_that_fails_keeps_the_old_file_and_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "\udc80")  # a lone surrogate cannot be written as UTF-8
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_a_relative_path_is_written_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_atomically(Path("here.json"), "{}")
    assert (tmp_path / "here.json").read_text(encoding="utf-8") == "{}"


def test_a_replace_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    taken = tmp_path / "report.json"
    taken.mkdir()  # a folder where the file should go: the rename is refused
    with pytest.raises(OSError):
        write_atomically(taken, "{}")
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    assert taken.is_dir()
