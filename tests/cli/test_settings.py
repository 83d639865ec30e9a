"""Every participant setting changed on a live conference: plan, status and apply against the
sandbox, as the settings table says (updated in place, redialed, or for the next dial only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from orchestrator import exit_codes
from orchestrator.spec.settings_table import BY_KEY, Policy
from tests.cli.support import CliSession, lines_of
from tests.cli.test_output import schema_check

ALICE: dict[str, Any] = {"name": "alice", "to": "+12065550100", "role": "host"}
BOB: dict[str, Any] = {"name": "bob", "to": "+12065550101"}
# Callbacks go to a closed port on this machine: nothing leaves it, nothing waits long.
HOOK = "http://127.0.0.1:9/calls"
MUSIC = "https://music.example/wait.mp3"


@dataclass(frozen=True)
class Case:
    key: str
    after: dict[str, Any]  # bob's settings once the file is edited
    policy: Policy
    shown: str  # the change as plan names it
    before: dict[str, Any] = field(default_factory=dict)  # bob's settings when first applied

    @property
    def id(self) -> str:
        return f"{self.key}-{self.policy}"


CASES = [
    Case(
        "to",
        {"to": "+12065550109"},
        "redial",
        "to +1206\u2022\u2022\u20220101 -> +1206\u2022\u2022\u20220109",
    ),
    Case("from", {"from": "+12065550300"}, "redial", "from +12065550200 -> +12065550300"),
    Case("caller_id", {"caller_id": "Bridge"}, "redial", "caller_id none -> Bridge"),
    Case("timeout", {"timeout": 45}, "next_dial", "timeout 30 -> 45"),
    Case("time_limit", {"time_limit": 600}, "redial", "time_limit none -> 600"),
    Case("early_media", {"early_media": True}, "next_dial", "early_media false -> true"),
    Case(
        "preferred_codecs",
        {"preferred_codecs": ["PCMA", "PCMU"]},
        "redial",
        "preferred_codecs none -> PCMA, PCMU",
    ),
    Case(
        "sip_auth",
        {"sip_auth": {"username": "bob", "password": "${BOB_SIP_PASSWORD}"}},
        "next_dial",
        "sip_auth none -> bob",
    ),
    Case(
        "custom_headers",
        {"custom_headers": {"X-Ticket": "s3cret-4711"}},
        "redial",
        "custom_headers none -> X-Ticket",  # header names only
    ),
    # The beep on leaving changes in place (BeepOnExit); the one on entering was heard already.
    Case("beep", {"beep": "onExit"}, "update", "beep onEnter -> onExit", {"beep": "onEnter"}),
    Case("beep", {"beep": "onExit"}, "next_dial", "beep true -> onExit", {"beep": True}),
    Case("muted", {"muted": True}, "update", "muted false -> true"),
    Case(
        "start_conference_on_enter",
        {"start_conference_on_enter": False},
        "redial",
        "start_conference_on_enter true -> false",
    ),
    Case(
        "end_conference_on_exit",
        {"end_conference_on_exit": True},
        "update",
        "end_conference_on_exit false -> true",
    ),
    Case("wait_url", {"wait_url": MUSIC}, "update", f"wait_url none -> {MUSIC}"),
    # An unset wait URL cannot be sent in an update: the call keeps its own until redialed.
    Case("wait_url", {}, "redial", f"wait_url {MUSIC} -> none", {"wait_url": MUSIC}),
    Case("coach", {"coach": "alice"}, "update", "coach none -> alice"),
    Case(
        "status_callback", {"status_callback": {"url": HOOK}}, "redial", "status_callback changed"
    ),
    Case(
        "machine_detection",
        {"machine_detection": {"mode": "Enable"}},
        "next_dial",
        "machine_detection changed",
    ),
    Case("record", {"record": True}, "redial", "record false -> true"),
    Case("recording", {"recording": {"channels": "dual"}}, "redial", "recording changed"),
    Case("hold", {"hold": True}, "update", "hold false -> true"),
    Case("retry", {"retry": {"attempts": 2}}, "next_dial", "retry changed"),
    Case("reconnect", {"reconnect": {"attempts": 1}}, "next_dial", "reconnect changed"),
]

LINES = {
    "update": "~ bob: {} (updated in place)",
    "redial": "! bob: {} (takes effect when redialed: --redial-changed)",
    "next_dial": "> bob: {} (next dial only; nothing to send)",
}
ENV = {"BOB_SIP_PASSWORD": "pw-5150"}


def test_every_setting_of_the_table_is_tried() -> None:
    assert {case.key for case in CASES} == set(BY_KEY)
    assert {case.policy for case in CASES if case.key != "beep"} >= {"update", "redial"}


def _bob(document: dict[str, Any], kind: str) -> dict[str, Any]:
    [conference] = document["conferences"]
    people = conference["actions" if kind == "plan" else "participants"]
    found: dict[str, Any] = next(p for p in people if p["name"] == "bob")
    return found


# A redial through the command line waits in real time for the old leg to leave and the new one
# to settle: long, as the table's other policies are not.
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.long) if case.policy == "redial" else case
        for case in CASES
    ],
    ids=[case.id for case in CASES],
)
def test_a_changed_setting_of_a_live_participant(cli: CliSession, case: Case) -> None:
    path = cli.write([ALICE, {**BOB, **case.before}])
    cli.apply(path)
    dials = cli.dial_count()
    cli.write([ALICE, {**BOB, **case.after}])

    planned = cli.run("plan", str(path), "--detailed-exitcode", **ENV)
    assert planned.returncode == exit_codes.CHANGES, planned.stdout + planned.stderr
    assert lines_of(planned.stdout)[1:3] == [
        "= alice unchanged",
        LINES[case.policy].format(case.shown),
    ]
    assert "s3cret" not in planned.stdout
    document = schema_check("plan", cli.run("plan", str(path), "-o", "json", **ENV))
    changes = _bob(document, "plan")["changes"]
    assert [(c["field"], c["policy"]) for c in changes] == [(case.key, case.policy)]
    status = cli.run("status", str(path), **ENV)
    drift = case.policy != "next_dial"  # a setting for the next dial leaves the live call as is
    assert status.returncode == (exit_codes.DRIFT if drift else exit_codes.OK), status.stdout
    assert (
        _bob(
            schema_check("status", cli.run("status", str(path), "-o", "json", **ENV)),
            "status",
        )["changes"]
        == changes
    )

    applied = cli.run("apply", str(path), "-q", "--settle-timeout", "20", **ENV)
    assert applied.returncode == exit_codes.OK, applied.stdout + applied.stderr
    assert cli.dial_count() == dials  # nothing is dialed without --redial-changed
    if case.policy == "update":
        assert f"updated {case.key}" in applied.stdout
        sid = cli.conference_sid()
        shown = cli.api(lambda c: c.get_participant(sid, "bob"))
        if case.key in shown:  # muted, hold, end_conference_on_exit: the live call says so
            assert shown[case.key] is True  # type: ignore[literal-required]
        if case.key == "coach":
            alice = cli.api(lambda c: c.get_participant(sid, "alice"))
            assert (shown["coaching"], shown["coaching_call_sid"]) == (True, alice["call_sid"])
    if case.policy == "redial":
        waiting = cli.run("plan", str(path), "--detailed-exitcode", **ENV)
        assert waiting.returncode == exit_codes.CHANGES  # the live call still has the old one
        assert cli.run("status", str(path), **ENV).returncode == exit_codes.DRIFT
        cli.apply(path, "--redial-changed", "--yes")
        redialed = cli.dials()[dials:]
        assert [d["label"] for d in redialed] == ["bob"]  # exactly once

    after = cli.run("plan", str(path), "--detailed-exitcode", **ENV)
    assert after.returncode == exit_codes.OK, after.stdout
    assert "= bob unchanged" in lines_of(after.stdout)
    assert cli.run("status", str(path), **ENV).returncode == exit_codes.OK
