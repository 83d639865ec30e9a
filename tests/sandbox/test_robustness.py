"""Random and hostile input: the sandbox answers every request with a status, never a crash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.sandbox import SandboxInfo, parse_scenario, sandbox_in_thread
from orchestrator.texml import contract

# Hundreds of generated requests.
pytestmark = pytest.mark.long

KNOWN = sorted({*contract.DIAL_FIELDS, *contract.UPDATE_PARTICIPANT_FIELDS, "Status"})
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
bodies = st.dictionaries(st.sampled_from(KNOWN) | st.text(max_size=8), json_values, max_size=8)
segments = st.sampled_from(
    ["room", "0b8e6c3e-0000-4000-8000-000000000000", "a.json", "%20", "x" * 300]
)
ACCEPTABLE = {200, 204, 400, 404, 405, 413, 422}


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[SandboxInfo, httpx.Client]]:
    scenario = parse_scenario({"time_scale": 0.01, "dials_per_second": 0})
    with (
        sandbox_in_thread(scenario) as info,
        httpx.Client(
            base_url=info.base_url, headers={"Authorization": f"Bearer {info.api_key}"}, timeout=10
        ) as client,
    ):
        # A live conference to aim updates at.
        client.post(
            contract.PARTICIPANTS_PATH.format(account_sid=info.account_sid, conference_sid="live"),
            json={"To": "+12065550100", "ApplicationSid": "app", "Label": "host"},
        ).raise_for_status()
        yield info, client


def _live_conference(info: SandboxInfo, client: httpx.Client) -> str:
    listed = (
        client.get(
            contract.CONFERENCES_PATH.format(account_sid=info.account_sid),
            params={"FriendlyName": "live", "Status": "init"},
        ).json()["conferences"]
        or client.get(
            contract.CONFERENCES_PATH.format(account_sid=info.account_sid),
            params={"FriendlyName": "live", "Status": "in-progress"},
        ).json()["conferences"]
    )
    return str(listed[0]["sid"])


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, segment=segments, as_form=st.booleans())
def test_random_dial_bodies_never_break_the_sandbox(
    target: tuple[SandboxInfo, httpx.Client], body: dict[str, Any], segment: str, as_form: bool
) -> None:
    info, client = target
    path = contract.PARTICIPANTS_PATH.format(account_sid=info.account_sid, conference_sid=segment)
    if as_form:
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        response = client.post(path, data=form)
    else:
        response = client.post(path, json=body)
    assert response.status_code in ACCEPTABLE, response.text
    if response.status_code >= 400:
        error = response.json()["errors"][0]
        assert error["code"] and error["detail"]


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=bodies,
    params=st.dictionaries(
        st.sampled_from(["Page", "PageSize", "PageToken", "Status", "DateCreated", "DateCreated>"]),
        st.text(max_size=12),
        max_size=3,
    ),
)
def test_random_updates_and_queries_never_break_the_sandbox(
    target: tuple[SandboxInfo, httpx.Client], body: dict[str, Any], params: dict[str, str]
) -> None:
    info, client = target
    sid = _live_conference(info, client)
    host = contract.PARTICIPANT_PATH.format(
        account_sid=info.account_sid, conference_sid=sid, call_sid_or_label="host"
    )
    body = {k: v for k, v in body.items() if k != "Status"}  # keep the conference alive
    assert client.post(host, json=body).status_code in ACCEPTABLE
    listed = client.get(
        contract.CONFERENCES_PATH.format(account_sid=info.account_sid), params=params
    )
    assert listed.status_code in {200, 422}, listed.text
    participants = client.get(
        contract.PARTICIPANTS_PATH.format(account_sid=info.account_sid, conference_sid=sid),
        params=params,
    )
    assert participants.status_code in {200, 422}, participants.text


def test_oversized_and_odd_requests(target: tuple[SandboxInfo, httpx.Client]) -> None:
    info, client = target
    path = contract.PARTICIPANTS_PATH.format(account_sid=info.account_sid, conference_sid="room")
    big = client.post(
        path,
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 413
    assert big.json()["errors"][0]["title"] == "Request too large"
    latin = client.post(
        path,
        content="To=\xe9".encode("latin-1"),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert latin.status_code in (400, 422)
    assert client.get("/_sandbox/health").json()["status"] == "ok"


DEEP = b"[" * 100_000 + b"]" * 100_000  # well within the size limit


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (
            b'{"To": ' + DEEP + b"}",
            "application/json",
            "the JSON request body is nested too deeply",
        ),
        (b'{"To": ' + DEEP + b"}", "text/plain", "the JSON request body is nested too deeply"),
        (b'{"To": "+12065550100", "Timeout": NaN}', "application/json", "not valid JSON"),
        (b'{"Timeout": 1' + b"0" * 5000 + b"}", "application/json", "not valid JSON"),
        (b'{"To": "+1206', "application/json", "not valid JSON"),
    ],
    ids=["deep", "deep-untyped", "nan", "huge-integer", "cut-off"],
)
def test_unparsable_json_bodies_are_bad_requests(
    target: tuple[SandboxInfo, httpx.Client], body: bytes, content_type: str, detail: str
) -> None:
    info, client = target
    path = contract.PARTICIPANTS_PATH.format(account_sid=info.account_sid, conference_sid="room")
    answer = client.post(path, content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 400, answer.text
    [error] = answer.json()["errors"]
    assert (error["code"], error["title"]) == (contract.CODE_BAD_REQUEST, "Bad request")
    assert detail in error["detail"]


def test_deep_json_in_a_form_field_is_an_invalid_value(
    target: tuple[SandboxInfo, httpx.Client],
) -> None:
    info, client = target
    path = contract.PARTICIPANTS_PATH.format(account_sid=info.account_sid, conference_sid="room")
    form = {"To": "+12065550100", "ApplicationSid": "app", "CustomHeaders": DEEP.decode()}
    answer = client.post(path, data=form)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["source"] == {"pointer": "/CustomHeaders"}
