"""apply --dry-run's output: every request a first run would send, secrets as ***, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.engine.preview import Preview, preview
from orchestrator.masking import read_url
from orchestrator.report.dry_run import render_dry_run_json, render_dry_run_text
from tests.cli.support import invoke
from tests.engine.support import conference_file, load

PASSWORD = "sip-pass-91c2e"

PEOPLE: list[dict[str, Any]] = [
    {"name": "agent", "to": "+12065550101", "role": "host"},
    {"name": "coach", "to": "+12065550103", "role": "coach", "coach": "agent", "muted": True},
    {
        "name": "desk",
        "to": "sip:desk@example.sip.telnyx.com",
        "sip_auth": {"username": "desk", "password": "${SIP_PW}"},
        "custom_headers": {"X-Ticket": "4711"},
    },
]


def previews(tmp_path: Path, account_sid: str | None = "acct-1") -> list[Preview]:
    spec = load(conference_file(tmp_path, PEOPLE), SIP_PW=PASSWORD)
    return preview([spec], account_sid)


def test_the_text_names_each_request_and_its_fields(tmp_path: Path) -> None:
    path = tmp_path / "test-bridge.yaml"
    conference = "/texml/Accounts/acct-1/Conferences"
    assert render_dry_run_text(previews(tmp_path)).splitlines() == [
        f"Conference test-bridge ({path}): 3 dials",
        f"  agent: POST {conference}/test-bridge/Participants",
        "      To                      +12065550101",
        "      From                    +12065550200",
        "      Label                   agent",
        "      ApplicationSid          1846572522338780702",
        "      StartConferenceOnEnter  true",
        "      EndConferenceOnExit     true",
        # Joiners address the SID the first dial will create, and say whom they wait for.
        f"  coach: POST {conference}/{{sid of test-bridge}}/Participants  (after conference, agent)",
        "      To              +12065550103",
        "      From            +12065550200",
        "      Label           coach",
        "      Muted           true",
        "      Coaching        true",
        "      CallSidToCoach  {call SID of agent}",
        f"  desk: POST {conference}/{{sid of test-bridge}}/Participants  (after conference)",
        "      To               sip:desk@example.sip.telnyx.com",
        "      From             +12065550200",
        "      Label            desk",
        "      SipAuthUsername  desk",
        "      SipAuthPassword  ***",
        '      CustomHeaders    [{"name": "X-Ticket", "value": "4711"}]',
        "",
        "Dry run: nothing was sent.",
    ]


def test_the_json_has_the_fields_as_they_would_be_sent_but_the_secret(tmp_path: Path) -> None:
    envelope = json.loads(render_dry_run_json(previews(tmp_path, account_sid=None)))
    assert (envelope["command"], envelope["dry_run"], envelope["exit_code"]) == ("apply", True, 0)
    [document] = envelope["conferences"]  # one file: the same envelope as for several
    assert document["conference"] == "test-bridge"
    agent, coach, desk = document["requests"]
    # No account known offline: the path says where it goes.
    assert agent["path"] == "/texml/Accounts/{account_sid}/Conferences/test-bridge/Participants"
    assert (agent["method"], agent["waits_for"]) == ("POST", [])
    assert agent["fields"]["StartConferenceOnEnter"] is True
    assert coach["waits_for"] == ["conference", "agent"]
    assert desk["fields"]["SipAuthPassword"] == "***"
    assert desk["fields"]["CustomHeaders"] == [{"name": "X-Ticket", "value": "4711"}]
    assert PASSWORD not in render_dry_run_json(previews(tmp_path))
    assert PASSWORD not in render_dry_run_text(previews(tmp_path))


def test_several_files_are_one_envelope_and_blocks(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    specs = [
        load(conference_file(tmp_path / folder, PEOPLE[:1], name=name))
        for folder, name in (("a", "standup"), ("b", "retro"))
    ]
    planned = preview(specs, "acct-1")
    conferences = json.loads(render_dry_run_json(planned))["conferences"]
    assert [d["conference"] for d in conferences] == [
        "standup",
        "retro",
    ]
    text = render_dry_run_text(planned)
    assert text.count(": 1 dial\n") == 2 and text.endswith("\nDry run: nothing was sent.\n")


def test_a_file_naming_its_conference_sid_dials_that_sid_without_the_application(
    tmp_path: Path,
) -> None:
    sid = "9b0e1c7e-0000-4000-8000-000000000000"
    spec = load(conference_file(tmp_path, PEOPLE[:1], sid=sid))
    [request] = preview([spec], "acct-1")[0].requests
    assert request.path == f"/texml/Accounts/acct-1/Conferences/{sid}/Participants"
    assert "ApplicationSid" not in request.fields and request.waits_for == ()


# Every reserved character, and a few that are not ASCII, in each place a URL keeps a secret.
RESERVED = [*":/?#[]@!$&'()*+,;=%", "\u00e9", "\u2603"]
HEAD, TAIL = "Qv7", "Kz4"


def callback_urls() -> list[str]:
    urls = []
    for char in RESERVED:
        secret = f"{HEAD}{char}{TAIL}"
        urls += [
            f"https://{secret}:pw@hooks.example.com/t",
            f"https://ci:{secret}@hooks.example.com/t",
            f"https://ci:12{char}{secret}@hooks.example.com/t",
            f"https://hooks.example.com/t?token={secret}",
            f"https://hooks.example.com/t#{secret}",
        ]
    return urls


def test_apply_dry_run_shows_no_callback_urls_credentials_nor_token(tmp_path: Path) -> None:
    urls = [url for url in callback_urls() if read_url(url) is not None]
    people = [
        {"name": f"p{i}", "to": f"+1206555{1000 + i}", "status_callback": {"url": url}}
        for i, url in enumerate(urls)
    ]
    path = conference_file(
        tmp_path,
        people,
        wait_url=f"https://ci:{HEAD}%23{TAIL}@hooks.example.com/wait",
        status_callback={"url": f"https://hooks.example.com/c?token={HEAD}&x={TAIL}"},
    )
    text = invoke("apply", str(path), "--dry-run")
    as_json = invoke("apply", str(path), "--dry-run", "-o", "json")
    assert (text.returncode, as_json.returncode) == (0, 0), text.stderr + as_json.stderr
    assert text.stdout.count(" StatusCallback ") == len(urls)  # every one of them was shown
    for output in (text.stdout, text.stderr, as_json.stdout, as_json.stderr):
        assert HEAD.lower() not in output.lower() and TAIL.lower() not in output.lower()
    [conference] = json.loads(as_json.stdout)["conferences"]
    shown = {r["fields"]["StatusCallback"] for r in conference["requests"]}
    assert shown <= {
        "https://***",
        "https://***@hooks.example.com/t",
        "https://hooks.example.com/t?***",
    }


def test_a_callback_url_the_file_check_refuses_is_not_quoted_whole(tmp_path: Path) -> None:
    # A space, and the reserved characters that make the HTTP client read the URL otherwise.
    unreadable = [url for url in callback_urls() if read_url(url) is None]
    assert len(unreadable) >= 5
    urls = [f"https://ci:{HEAD} {TAIL}@hooks.example.com/t", *unreadable]
    people = [
        {"name": f"p{i}", "to": f"+1206555{1000 + i}", "status_callback": {"url": url}}
        for i, url in enumerate(urls)
    ]
    path = conference_file(tmp_path, people)
    result = invoke("apply", str(path), "--dry-run")
    assert result.returncode != 0
    assert (result.stdout + result.stderr).count("status_callback.url") >= len(urls)
    output = (result.stdout + result.stderr).lower()
    assert HEAD.lower() not in output and TAIL.lower() not in output
