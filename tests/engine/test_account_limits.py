"""apply against the account's own limits, as the sandbox's ``account:`` section and
``profile: new-account`` stage them: concurrent calls (a leg over the limit fails at once,
as SIP 403 ends it) and hourly and daily dial caps (the dial is refused). The cause of each
participant that does not converge is typed (``ParticipantOutcome.cause``), the run stops
dialing at the first cap, and nobody is dialed twice."""

from __future__ import annotations

from pathlib import Path

from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.run_model import RunModel
from orchestrator.report.summary import render_text
from tests.engine.support import conference_file, dialed_once, load, numbered, stepped_sandbox


def names(count: int) -> list[str]:
    return [f"p{i:03d}" for i in range(count)]


async def test_a_new_account_and_a_twelve_person_bridge(tmp_path: Path) -> None:
    # 5 concurrent calls, 10 dials an hour: five connect, the next five fail at once over
    # the concurrent limit, and the eleventh dial meets the hourly cap: the last two are
    # not dialed. One refused dial, and no dial after it.
    path = conference_file(tmp_path, numbered(12))
    notices: list[str] = []
    async with stepped_sandbox(profile="new-account") as sandbox:
        [result] = await sandbox.apply([load(path)], ApplyOptions(notice=notices.append))
        dials = await sandbox.dials()
        health = await sandbox.health()
    dialed_once(dials, names(10))
    assert len(dials) == 10 and health["rate_limited"]["90103"] == 1
    rows = {p.name: (str(p.observed), p.cause) for p in result.participants}
    assert [rows[n] for n in names(5)] == [("connected", None)] * 5
    assert [rows[n] for n in names(10)[5:]] == [("ended: failed", "concurrent-calls")] * 5
    assert [rows[n] for n in names(12)[10:]] == [("not-dialed", "dial-cap")] * 2
    assert result.exit_code == 3
    [capped] = notices
    assert capped.startswith("account dial cap (10 dials) reached at p010")
    text = render_text([result])
    assert "12 participants: 5 ended: failed, 2 not-dialed, 5 connected" in text
    assert text.count("likely the account concurrent-call limit (failed with") == 10  # row, why
    assert text.count("account dial cap (10 dials) reached: no dial sent") == 4


async def test_over_the_concurrent_limit_the_next_number_is_dialed_and_fails_too(
    tmp_path: Path,
) -> None:
    # A number that failed for its own reason must not cost the person their other phone:
    # the next number is dialed, and over the limit it fails the same way.
    people = numbered(6)
    for i, person in enumerate(people):
        person["to"] = [person["to"], f"+1206556{i:04d}"]  # a second number each
    path = conference_file(tmp_path, people)
    async with stepped_sandbox(account={"concurrent_calls": 3}) as sandbox:
        [result] = await sandbox.apply([load(path)])
        dials = await sandbox.dials()
    labels = [d["label"] for d in dials]
    connected = [p for p in result.participants if p.cause is None]
    limited = [p for p in result.participants if p.cause == "concurrent-calls"]
    assert len(connected) == 3 and {str(p.observed) for p in connected} == {"connected"}
    assert len(limited) == 3 and {str(p.observed) for p in limited} == {"ended: failed"}
    assert all(p.attempts == 1 and labels.count(p.name) == 1 for p in connected)
    assert all(p.attempts == 2 and labels.count(p.name) == 2 for p in limited)
    assert all(p.to.startswith("+1206556") for p in limited)  # the second number, last
    assert all(
        p.error and p.error.startswith("likely the account concurrent-call limit") for p in limited
    )


async def test_a_call_failing_with_few_others_up_is_not_blamed_on_the_limit(
    tmp_path: Path,
) -> None:
    people = numbered(2)
    people[1]["to"] = "+15550000003"
    path = conference_file(tmp_path, people)
    async with stepped_sandbox(numbers={"+15550000003": {"answer": "fail"}}) as sandbox:
        [result] = await sandbox.apply([load(path)])
    failed = result.participants[1]
    assert (str(failed.observed), failed.cause) == ("ended: failed", None)


async def test_the_hourly_cap_stops_dialing_at_once_and_never_retries(tmp_path: Path) -> None:
    people = numbered(30, retry={"attempts": 2, "interval_s": 1})
    path = conference_file(tmp_path, people)
    model = RunModel()
    async with stepped_sandbox(account={"dials_per_hour": 20}) as sandbox:
        [result] = await sandbox.apply([load(path)], model=model)
        dials = await sandbox.dials()
        health = await sandbox.health()
    dialed_once(dials, names(20))
    assert health["rate_limited"]["90103"] == 1  # the wall is met once, not retried into
    assert model.capped is not None and model.capped.limit == "dial-cap"
    assert model.capped.allowed == 20
    by_state: dict[str, list[str]] = {}
    for p in result.participants:
        by_state.setdefault(f"{p.observed} {p.cause}", []).append(p.name)
    assert {k: len(v) for k, v in by_state.items()} == {
        "connected None": 20,
        "not-dialed dial-cap": 10,
    }
    assert result.exit_code == 3 and result.dials == 20


async def test_the_daily_cap_stops_dialing_too(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(4))
    notices: list[str] = []
    async with stepped_sandbox(account={"dials_per_day": 3}) as sandbox:
        [result] = await sandbox.apply([load(path)], ApplyOptions(notice=notices.append))
    last = result.participants[-1]
    assert (str(last.observed), last.cause) == ("not-dialed", "dial-cap")
    assert last.error == "account dial cap (3 dials) reached: no dial sent"
    assert notices == [
        "account dial cap (3 dials) reached at p003: no more dials this run; a place frees "
        "in an hour or more; everyone not yet dialed is reported not-dialed"
    ]


async def test_a_creator_that_meets_the_cap_leaves_nobody_waiting(tmp_path: Path) -> None:
    # The first conference takes the hour's one dial; the second's creator meets the cap,
    # and everyone else, waiting for the conference, is not dialed (no hang, no dial).
    first = conference_file(tmp_path, numbered(1), name="first")
    second = conference_file(tmp_path, numbered(4, start=2000), name="second")
    async with stepped_sandbox(account={"dials_per_hour": 1}) as sandbox:
        [done] = await sandbox.apply([load(first)])
        [capped] = await sandbox.apply([load(second)])
        dials = await sandbox.dials()
    assert done.exit_code == 0 and len(dials) == 1
    assert {(str(p.observed), p.cause) for p in capped.participants} == {("not-dialed", "dial-cap")}
    assert capped.participants[0].error == "account dial cap (1 dial) reached: no dial sent"
    assert capped.exit_code == 3
