"""The event log and the run folder: lines back to the same events, owner-only files, a header
that names the files' versions and no secret."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
from pathlib import Path

import pytest

from orchestrator.engine import events as ev
from orchestrator.errors import UsageError
from orchestrator.record.codec import Decoder, Encoder
from orchestrator.record.recorder import Recorder
from orchestrator.record.runs import list_runs, pick, run_folders
from tests.record.support import FILE, NAME, T0, demo_events


def test_every_event_comes_back_from_its_line_to_the_millisecond() -> None:
    encoder, decoder = Encoder(), Decoder()
    events = demo_events()
    lines = [encoder.line(e) for e in events]
    assert all(line is not None and line.endswith("\n") for line in lines)
    back = list(decoder.events(line for line in lines if line))
    assert len(back) == len(events) and decoder.unreadable == 0
    for sent, read in zip(events, back, strict=True):
        assert type(read) is type(sent)
        assert read.at == pytest.approx(sent.at, abs=0.0005)
        assert {**vars(read), "at": 0} == {**vars(sent), "at": 0}
    first = json.loads(lines[1] or "")
    assert list(first)[:3] == ["at", "kind", "source"]
    assert first["at"] == "2027-01-15T08:00:00.500Z" and first["destination"] == "+12065550100"


def test_a_line_cut_short_is_counted_and_the_others_are_read() -> None:
    encoder, decoder = Encoder(), Decoder()
    lines = [encoder.line(e) or "" for e in demo_events()[:4]]
    lines[-1] = lines[-1][:25]  # what a kill in the middle of a write leaves
    assert len(list(decoder.events(lines))) == 3
    assert decoder.unreadable == 1


def test_a_watch_round_that_changes_nothing_writes_nothing_new() -> None:
    encoder = Encoder()
    [plan] = demo_events()[:1]
    assert isinstance(plan, ev.ConferencePlanned)
    finished = ev.Finished(file=FILE, conference=NAME, participant="alice", at=T0)
    seen = ev.ConferenceSeen(file=FILE, conference=NAME, sid="CF1", status="in-progress")
    first = [encoder.line(e) for e in (plan, finished, seen)]
    again = [encoder.line(e) for e in (plan, finished, seen)]
    assert all(first)
    assert again[1] is None and again[2] is None
    assert json.loads(again[0] or "")["rows"] == "same"
    decoder = Decoder()
    plans = list(decoder.events([first[0] or "", again[0] or ""]))
    assert [p.rows for p in plans] == [plan.rows, plan.rows]  # type: ignore[attr-defined]


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def test_the_run_folder_is_private_and_its_header_names_file_versions(tmp_path: Path) -> None:
    conference = tmp_path / "bridge.yaml"
    conference.write_text("version: 1\n", encoding="utf-8")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=a", "add", "bridge.yaml")
    _git(tmp_path, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x")
    conference.write_text("version: 1\n# changed\n", encoding="utf-8")
    argv = ["apply", str(conference), "--base-url", "https://ci:hunter2@api.example/v2?token=t"]
    recorder = Recorder.start(command="apply", argv=argv, paths=[str(conference)], state_dir=None)
    for event in demo_events():
        recorder(event)
    recorder.finish(3)

    assert recorder.folder is not None
    assert recorder.folder.parent == tmp_path / ".orchestrator" / "runs"
    for folder in (recorder.folder, recorder.folder.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("run.json", "events.jsonl"):
        assert stat.S_IMODE((recorder.folder / name).stat().st_mode) == 0o600
    header = json.loads((recorder.folder / "run.json").read_text())
    text = (recorder.folder / "run.json").read_text()
    assert "hunter2" not in text and "token=t" not in text
    assert header["argv"][-1] == "https://***@api.example/v2?***"
    [entry] = header["files"]
    assert entry["sha256"] == hashlib.sha256(conference.read_bytes()).hexdigest()
    assert len(entry["git"]["commit"]) == 40 and entry["git"]["modified"] is True
    assert header["exit_code"] == 3 and header["ended"] is not None

    [run] = list_runs(run_folders(None, [], tmp_path))
    assert run.id == header["id"] and not run.header.interrupted
    assert len(run.events()[0]) == len(demo_events())


def test_runs_are_named_by_id_prefix_or_last_and_bad_names_say_why(tmp_path: Path) -> None:
    ids = []
    for _ in range(3):
        recorder = Recorder.start(
            command="apply", argv=[], paths=["x.yaml"], state_dir=str(tmp_path)
        )
        recorder.finish(0)
        ids.append(recorder.header.id)
    runs = list_runs(run_folders(str(tmp_path), [], tmp_path))
    assert pick(runs, "last") == runs[0]
    assert pick(runs, ids[1]).id == ids[1]
    prefix = ids[2][:-2]
    assert sum(i.startswith(prefix) for i in ids) == 1
    assert pick(runs, prefix).id == ids[2]
    with pytest.raises(UsageError, match="ambiguous"):
        pick(runs, ids[0][:8])
    with pytest.raises(UsageError, match="no run 'nope'"):
        pick(runs, "nope")


def test_a_folder_that_cannot_be_made_warns_once_and_the_run_goes_on(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    said: list[str] = []
    recorder = Recorder.start(
        command="apply", argv=[], paths=["x.yaml"], state_dir=str(blocker), warn=said.append
    )
    for event in demo_events():
        recorder(event)
    recorder.finish(0)
    assert recorder.folder is None
    assert len(said) == 1 and "cannot keep this run's record" in said[0]
