"""status's output from hand-built inspections: apply's table of what is live, then the verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator import exit_codes
from orchestrator.engine.inspect import Inspection
from orchestrator.engine.planner import LiveState, make_plan
from orchestrator.report.status import render_status_json, render_status_text
from orchestrator.spec.model import ConferenceSpec
from orchestrator.texml.contract import RecordingResource
from tests.engine.support import (
    CONFERENCE_SID,
    conference_file,
    everyone_live,
    leg,
    live_conference,
    load,
)

PEOPLE: list[dict[str, Any]] = [
    {"name": "alice", "to": "+12065550100", "role": "host"},
    {"name": "bob", "to": "+12065550101"},
    {"name": "carol", "to": "+12065550102", "role": "listener"},
]


def recording(sid: str, status: str, duration: int | None) -> RecordingResource:
    return {
        "sid": sid,
        "call_sid": None,
        "conference_sid": CONFERENCE_SID,
        "channels": 1,
        "duration": duration,
        "status": status,
        "source": "StartConferenceRecordingAPI",
        "media_url": None,
        "start_time": "Mon, 01 Jan 2024 10:00:00 +0000",
        "error_code": None,
        "date_created": "Mon, 01 Jan 2024 10:00:00 +0000",
        "date_updated": "Mon, 01 Jan 2024 10:00:42 +0000",
        "uri": f"/v2/texml/Accounts/acct-1/Conferences/{CONFERENCE_SID}/Recordings/{sid}",
    }


def spec_of(tmp_path: Path) -> ConferenceSpec:
    return load(conference_file(tmp_path, PEOPLE))


def drifted(spec: ConferenceSpec) -> Inspection:
    """bob still ringing and muted against the file, carol gone, eve no longer in the file."""
    live = everyone_live(spec, bob={"status": "connecting", "muted": True})
    del live["carol"]
    state = LiveState(
        conference=live_conference(),
        participants=live,
        destinations={"eve": "+12065550109"},
        strays={"eve": leg("v3:eve")},
        unlabeled=("v3:stranger",),
    )
    recordings = (recording("RE1", "completed", 42), recording("RE2", "processing", None))
    return Inspection(make_plan(spec, state), recordings)


def test_a_drifted_conference_row_by_row(tmp_path: Path) -> None:
    spec = spec_of(tmp_path)
    bullet = "\u2022\u2022\u2022"
    assert render_status_text([drifted(spec)]).splitlines() == [
        f"Conference test-bridge ({spec.path}): {CONFERENCE_SID}, in-progress",
        "  NAME   ROLE         TO            DESIRED    OBSERVED    CALL SID  NOTE",
        f"  alice  host         +1206{bullet}0100  connected  connected   v3:alice",
        f"  bob    participant  +1206{bullet}0101  connected  connecting  v3:bob    "
        "differs: muted true -> false (updated in place)",
        f"  carol  listener     +1206{bullet}0102  connected  absent      -         "
        "not in the conference (apply dials it)",
        f"  eve    -            +1206{bullet}0109  unmanaged  unmanaged   v3:eve    "
        "live, not in file; apply --prune hangs it up",
        "4 participants: 1 absent, 1 connected, 1 connecting, 1 unmanaged.",
        "  recordings (2):",
        "    RE1  completed, 42s",
        "    RE2  processing",
        "  ? v3:stranger (no Label known; never touched)",
        "drift: the live conference differs from the file",
    ]


def test_a_conference_as_the_file_says_is_in_sync(tmp_path: Path) -> None:
    spec = spec_of(tmp_path)
    state = LiveState(conference=live_conference(), participants=everyone_live(spec))
    lines = render_status_text([Inspection(make_plan(spec, state))]).splitlines()
    assert lines[-3:] == ["3 participants: 3 connected.", "  no recordings", "in sync"]


def test_a_number_that_changed_is_drift_with_the_redial_it_needs(tmp_path: Path) -> None:
    spec = spec_of(tmp_path)
    state = LiveState(
        conference=live_conference(),
        participants=everyone_live(spec),
        destinations={"bob": "+12065550177"},
    )
    lines = render_status_text([Inspection(make_plan(spec, state))]).splitlines()
    bob = next(line for line in lines if line.startswith("  bob"))
    # The number dialed, masked, and what it would take.
    assert bob.endswith(
        "differs: to +1206\u2022\u2022\u20220177 -> +1206\u2022\u2022\u20220101 "
        "(takes effect when redialed: --redial-changed)"
    )
    assert lines[-1] == "drift: the live conference differs from the file"


def test_a_setting_for_the_next_dial_only_is_said_but_is_no_drift(tmp_path: Path) -> None:
    spec = load(conference_file(tmp_path, [PEOPLE[0], {**PEOPLE[1], "early_media": True}]))
    recorded = {"early_media": None, "time_limit": None}
    state = LiveState(
        conference=live_conference(),
        participants=everyone_live(spec),
        fingerprints={"bob": recorded},
    )
    inspection = Inspection(make_plan(spec, state))
    lines = render_status_text([inspection]).splitlines()
    bob = next(line for line in lines if line.startswith("  bob"))
    assert bob.endswith("early_media false -> true (next dial only; nothing to send)")
    assert lines[-1] == "in sync"
    [document] = json.loads(render_status_json([inspection]))["conferences"]
    assert document["in_sync"] is True
    rows = {p["name"]: p for p in document["participants"]}
    assert rows["bob"]["changes"] == [
        {"field": "early_media", "from": False, "to": True, "policy": "next_dial"}
    ]
    assert rows["bob"]["error"] is None and rows["alice"]["changes"] == []


def test_a_conference_not_running_has_everyone_absent_and_no_recordings_line(
    tmp_path: Path,
) -> None:
    spec = spec_of(tmp_path)
    lines = render_status_text(
        [Inspection(make_plan(spec, LiveState(conference=None)))]
    ).splitlines()
    assert lines[0] == f"Conference test-bridge ({spec.path}): not running"
    assert lines[-2:] == [
        "3 participants: 3 absent.",
        "drift: the live conference differs from the file",
    ]


def test_the_json_status_for_scripts(tmp_path: Path) -> None:
    spec = spec_of(tmp_path)
    envelope = json.loads(render_status_json([drifted(spec)], exit_code=exit_codes.DRIFT))
    assert (envelope["command"], envelope["exit_code"]) == ("status", exit_codes.DRIFT)
    [document] = envelope["conferences"]
    # apply's report, less what only a run has, plus what status adds.
    for key in ("duration_s", "interrupted", "stopped_by", "in_flight_at_stop", "error"):
        assert key not in document
    assert "dials" not in document["totals"] and "rate_limited" not in document["totals"]
    assert document["in_sync"] is False
    assert document["exit_code"] == exit_codes.DRIFT
    assert document["conference"] == {
        "name": "test-bridge",
        "sid": CONFERENCE_SID,
        "status": "in-progress",
    }
    rows = {p["name"]: p for p in document["participants"]}
    assert list(rows) == ["alice", "bob", "carol", "eve"]
    assert (rows["carol"]["observed"], rows["carol"]["call_sid"]) == ("absent", None)
    assert rows["bob"]["error"] == "differs: muted true -> false (updated in place)"
    assert rows["bob"]["changes"] == [
        {"field": "muted", "from": True, "to": False, "policy": "update"}
    ]
    assert rows["eve"]["changes"] == []
    assert (rows["eve"]["desired"], rows["eve"]["to"]) == (
        "unmanaged",
        "+1206\u2022\u2022\u20220109",
    )
    assert document["recordings"] == [
        {
            "sid": "RE1",
            "status": "completed",
            "duration": 42,
            "channels": 1,
            "source": "StartConferenceRecordingAPI",
        },
        {
            "sid": "RE2",
            "status": "processing",
            "duration": None,
            "channels": 1,
            "source": "StartConferenceRecordingAPI",
        },
    ]
    assert document["unlabeled"] == ["v3:stranger"]


def test_json_for_several_files_is_one_envelope(tmp_path: Path) -> None:
    spec = spec_of(tmp_path)
    in_sync = Inspection(
        make_plan(spec, LiveState(conference=live_conference(), participants=everyone_live(spec)))
    )
    envelope = json.loads(render_status_json([drifted(spec), in_sync], exit_code=exit_codes.DRIFT))
    documents = envelope["conferences"]
    assert [d["in_sync"] for d in documents] == [False, True]
    assert [d["exit_code"] for d in documents] == [exit_codes.DRIFT, exit_codes.OK]
