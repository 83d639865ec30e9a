"""apply's summary from hand-built results: the text table, the JSON report, masked numbers."""

from __future__ import annotations

import json

import pytest

from orchestrator.engine.results import ConferenceResult, ParticipantOutcome, State
from orchestrator.report.envelope import VERSION
from orchestrator.report.summary import (
    LONG_TABLE,
    SUMMARY_REPORTERS,
    error_lines,
    mask_destination,
    render_json,
    render_result_text,
    render_text,
)


def standup() -> ConferenceResult:
    return ConferenceResult(
        path="conf/standup.yaml",
        name="standup",
        sid="c0ffee-sid",
        status="in-progress",
        participants=[
            ParticipantOutcome(
                name="alice",
                role="host",
                to="+12065550100",
                observed=State.CONNECTED,
                call_sid="v3:abc",
                attempts=1,
            ),
            ParticipantOutcome(
                name="bob",
                role="participant",
                to="+15550000001",
                observed=State.NO_ANSWER,
                call_sid="v3:" + "x" * 30,
                attempts=2,
                error="no answer on any number (last: no-answer)",
                notes=["fallback to number 2 after no-answer"],
            ),
            ParticipantOutcome(
                name="carol",
                role="listener",
                to="sip:carol@example.sip.telnyx.com",
                observed=State.NOT_DIALED,
            ),
        ],
        exit_code=3,
        duration_s=1.2344,
        dials=3,
        rate_limited=1,
    )


@pytest.mark.parametrize(
    ("destination", "shown"),
    [
        ("+12065550100", "+1206\u2022\u2022\u20220100"),
        ("2065550100", "2065\u2022\u2022\u20220100"),  # no +: one digit less kept in front
        ("sip:carol@example.sip.telnyx.com", "sip:c\u2022\u2022\u2022@example.sip.telnyx.com"),
        ("sips:c@host", "sips:c\u2022\u2022\u2022@host"),
        ("+123456", "+123456"),  # too short to hide anything and still tell numbers apart
        ("sip:no-host", "sip:no-host"),
    ],
)
def test_destinations_are_masked(destination: str, shown: str) -> None:
    assert mask_destination(destination) == shown


def test_the_text_summary_is_a_table_then_the_totals() -> None:
    assert render_text([standup()]).splitlines() == [
        "Conference standup (conf/standup.yaml): c0ffee-sid, in-progress",
        "  NAME   ROLE         TO                               DESIRED    OBSERVED          "
        "CALL SID              ATTEMPTS  NOTE",
        "  alice  host         +1206\u2022\u2022\u20220100                     connected  "
        "connected         v3:abc                1",
        "  bob    participant  +1555\u2022\u2022\u20220001                     connected  "
        "ended: no-answer  v3:xxxxxxxxxxxxxxxx\u2026  2         "
        "fallback to number 2 after no-answer; no answer on any number (last: no-answer)",
        "  carol  listener     sip:c\u2022\u2022\u2022@example.sip.telnyx.com  connected  "
        "not-dialed        -                     0",
        "3 participants: 1 ended: no-answer, 1 not-dialed, 1 connected; 2 did not converge. "
        "3 dials, 1 rate-limited, 1.2s.",
        # Whatever the size of the table, the last lines name who did not converge, and why.
        "Did not converge:",
        "  bob: ended: no-answer \u2014 no answer on any number (last: no-answer)",
        "  carol: not-dialed",
    ]


def test_a_conference_not_running_is_said_and_its_error_goes_to_stderr_not_the_table() -> None:
    result = standup()
    result.sid, result.status, result.error = None, None, "cannot reach the API"
    lines = render_result_text(result).splitlines()
    assert lines[0] == "Conference standup (conf/standup.yaml): not running"
    assert not any(line.startswith("error:") for line in lines)
    assert error_lines([result]) == ["error: cannot reach the API"]


def test_when_nothing_could_be_done_there_is_no_table_at_all() -> None:
    result = standup()
    result.error = "the API refused the API key (HTTP 401)"
    for outcome in result.participants:
        outcome.attempts, outcome.call_sid = 0, None
    assert render_text([result]) == ""
    assert error_lines([result, result]) == ["error: the API refused the API key (HTTP 401)"]


def test_errors_of_several_conferences_are_named_by_conference() -> None:
    first, second = standup(), standup()
    second.name, second.path = "retro", "conf/retro.yaml"
    first.error, second.error = "lock held", "conf/retro.yaml: no application_sid"
    assert error_lines([first, second]) == [
        "error: standup (conf/standup.yaml): lock held",
        "error: conf/retro.yaml: no application_sid",
    ]


def test_a_long_table_lists_only_who_did_not_converge_unless_full() -> None:
    result = standup()
    result.participants += [
        ParticipantOutcome(
            name=f"p{i:03d}", role="participant", to="+12065551000", observed=State.CONNECTED
        )
        for i in range(LONG_TABLE)
    ]
    short = render_result_text(result).splitlines()
    rows = [line for line in short if line.startswith("  p0") or line.startswith("  alice")]
    assert rows == []  # converged rows are left out
    assert f"  ... and {LONG_TABLE + 1} more, all converged (--full lists every row)" in short
    assert any(line.startswith("  bob ") for line in short)
    full = render_result_text(result, full=True).splitlines()
    assert sum(line.startswith("  p0") for line in full) == LONG_TABLE


def test_all_converged_is_said_so() -> None:
    result = standup()
    alice = result.participants[0]
    dave = ParticipantOutcome(
        name="dave", role="participant", to="+12065550103", observed=State.CONNECTED
    )
    result.participants = [alice, dave]
    assert render_result_text(result).splitlines()[-1] == (
        "2 participants: 2 connected; all converged. 3 dials, 1 rate-limited, 1.2s."
    )


@pytest.mark.parametrize(
    ("stopped_by", "in_flight", "line"),
    [
        ("SIGINT", 0, "interrupted by Ctrl-C (SIGINT): no dial was sent after it"),
        (
            "SIGTERM",
            1,
            "interrupted by SIGTERM: no dial was sent after it; 1 dial was already on the wire "
            "and their answers are in the table",
        ),
        (
            "SIGHUP",
            3,
            "interrupted by SIGHUP: no dial was sent after it; 3 dials were already on the wire "
            "and their answers are in the table",
        ),
        (None, None, "interrupted by a stop: no dial was sent after it"),
    ],
)
def test_an_interrupted_run_says_by_what_and_what_was_on_the_wire(
    stopped_by: str | None, in_flight: int | None, line: str
) -> None:
    result = standup()
    result.interrupted, result.stopped_by, result.in_flight_at_stop = True, stopped_by, in_flight
    assert render_result_text(result).splitlines()[-1] == line


def test_without_activity_there_are_no_attempts_and_no_dial_counts() -> None:
    lines = render_result_text(standup(), activity=False).splitlines()
    assert lines[1].split() == ["NAME", "ROLE", "TO", "DESIRED", "OBSERVED", "CALL", "SID", "NOTE"]
    assert lines[2].split() == [
        "alice",
        "host",
        "+1206\u2022\u2022\u20220100",
        "connected",
        "connected",
        "v3:abc",
    ]
    assert lines[-1] == "3 participants: 1 ended: no-answer, 1 not-dialed, 1 connected."


def test_the_json_report_has_every_field_scripts_read() -> None:
    envelope = json.loads(render_json([standup()], exit_code=3))
    assert envelope["version"] == VERSION and envelope["command"] == "apply"
    assert envelope["exit_code"] == 3
    [document] = envelope["conferences"]
    assert document == {
        "file": "conf/standup.yaml",
        "conference": {"name": "standup", "sid": "c0ffee-sid", "status": "in-progress"},
        "participants": [
            {
                "name": "alice",
                "role": "host",
                "to": "+1206\u2022\u2022\u20220100",
                "desired": "connected",
                "observed": "connected",
                "converged": True,
                "call_sid": "v3:abc",
                "attempts": 1,
                "error": None,
                "notes": [],
                "answered_by": None,
                "cause": None,
                "since": None,
            },
            {
                "name": "bob",
                "role": "participant",
                "to": "+1555\u2022\u2022\u20220001",
                "desired": "connected",
                "observed": "ended: no-answer",
                "converged": False,
                "call_sid": "v3:" + "x" * 30,  # whole: scripts look calls up by it
                "attempts": 2,
                "error": "no answer on any number (last: no-answer)",
                "notes": ["fallback to number 2 after no-answer"],
                "answered_by": None,
                "cause": None,
                "since": None,
            },
            {
                "name": "carol",
                "role": "listener",
                "to": "sip:c\u2022\u2022\u2022@example.sip.telnyx.com",
                "desired": "connected",
                "observed": "not-dialed",
                "converged": False,
                "call_sid": None,
                "attempts": 0,
                "error": None,
                "notes": [],
                "answered_by": None,
                "cause": None,
                "since": None,
            },
        ],
        "totals": {
            "participants": 3,
            "converged": 1,
            "not_converged": 2,
            "by_state": {"connected": 1, "ended: no-answer": 1, "not-dialed": 1},
            "dials": 3,
            "rate_limited": 1,
        },
        "error": None,
        "interrupted": False,
        "stopped_by": None,
        "in_flight_at_stop": None,
        "exit_code": 3,
        "duration_s": 1.234,  # rounded to the millisecond
    }


def test_several_files_are_blocks_of_text_and_one_envelope_of_json() -> None:
    other = standup()
    other.name, other.path = "retro", "conf/retro.yaml"
    text = render_text([standup(), other])
    assert text.count("\nConference retro (conf/retro.yaml)") == 1
    assert "carol: not-dialed\n\nConference retro" in text  # one blank line between the blocks
    for results in ([standup()], [standup(), other]):
        envelope = json.loads(render_json(results, exit_code=3))
        assert [d["conference"]["name"] for d in envelope["conferences"]] == [
            r.name for r in results
        ]
    rendered = render_json([standup()], exit_code=3)
    assert rendered.endswith("}\n") and "\u2022" in rendered  # UTF-8 as is, not \u escapes


def test_every_output_choice_has_a_reporter() -> None:
    assert list(SUMMARY_REPORTERS) == ["text", "json"]
    assert SUMMARY_REPORTERS["text"]([standup()], exit_code=3) == render_text([standup()])


def test_at_40_columns_the_table_leaves_out_columns_instead_of_wrapping() -> None:
    lines = render_text([standup()], width=40).splitlines()
    header, *rows = lines[1:4]
    assert header.split() == ["NAME", "OBSERVED", "NOTE"]
    for line in (header, *rows):
        assert len(line) <= 40, line
    assert rows[1].startswith("  bob    ended: no-answer  fallback")
    assert rows[1].endswith("\u2026")
    # The counts keep the failures whole; the digest below still says everything.
    assert lines[5] == "3 participants: 1 no-answer, 1 undialed, \u2026;"
    assert lines[6] == "2 did not converge. 3 dials, 1 rate-limited, 1.2s."
    assert "  bob: ended: no-answer \u2014 no answer on any number (last: no-answer)" in lines
