"""make_plan: desired (the file) against live state (built by hand here), action by action."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.planner import (
    CONFERENCE,
    Action,
    Change,
    LiveState,
    Plan,
    Stray,
    make_plan,
)
from orchestrator.engine.state import StateStore
from orchestrator.spec.model import ConferenceSpec
from orchestrator.spec.settings_table import fingerprint
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
    {"name": "bob", "to": ["+12065550101", "+12065550191"]},
    {"name": "carol", "to": "+12065550102", "role": "listener"},
]


def spec_of(tmp_path: Path, people: list[dict[str, Any]]) -> ConferenceSpec:
    return load(conference_file(tmp_path, people))


def by_name(plan: Plan) -> dict[str, Action]:
    return {a.participant.name: a for a in plan.actions}


# No conference yet -------------------------------------------------------------


def test_a_new_conference_dials_everyone_and_the_host_creates_it(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, PEOPLE)
    plan = make_plan(spec, LiveState(conference=None))
    assert (plan.conference_sid, plan.conference_status) == (None, None)
    assert plan.creator == "alice"  # start_conference_on_enter from the host role
    actions = by_name(plan)
    assert [a.kind for a in plan.actions] == ["dial", "dial", "dial"]
    # The creator goes first; everyone else waits for the conference's SID.
    assert actions["alice"].waits_for == ()
    assert actions["bob"].waits_for == (CONFERENCE,)
    assert actions["carol"].waits_for == (CONFERENCE,)
    assert all(a.live is None and a.changes == () and a.needs_redial == () for a in plan.actions)
    assert plan.changes_present and plan.drift


def test_a_coach_waits_for_the_conference_and_for_whom_it_coaches(tmp_path: Path) -> None:
    people = [
        {"name": "coach", "to": "+12065550103", "role": "coach", "coach": "agent"},
        {"name": "agent", "to": "+12065550101"},
    ]
    plan = make_plan(spec_of(tmp_path, people), LiveState(conference=None))
    actions = by_name(plan)
    assert plan.creator == "agent"  # never a coach, though it comes first
    assert actions["coach"].waits_for == (CONFERENCE, "agent")
    assert actions["agent"].waits_for == ()


@pytest.mark.parametrize(
    ("settings", "creator"),
    [
        # An explicit true wins over the API's default, wherever it stands.
        ([{}, {"start_conference_on_enter": True}, {}], "p1"),
        # Nobody says: the first one left to the API's default (true).
        ([{"start_conference_on_enter": False}, {}, {}], "p1"),
        # Everyone says false: the first of them, rather than no creator at all.
        ([{"start_conference_on_enter": False}] * 3, "p0"),
    ],
    ids=["explicit-true", "default", "all-false"],
)
def test_the_creator_is_chosen_by_start_conference_on_enter(
    tmp_path: Path, settings: list[dict[str, Any]], creator: str
) -> None:
    people = [
        {"name": f"p{i}", "to": f"+1206555010{i}", **extra} for i, extra in enumerate(settings)
    ]
    plan = make_plan(spec_of(tmp_path, people), LiveState(conference=None))
    assert plan.creator == creator
    for action in plan.actions:
        expected = () if action.participant.name == creator else (CONFERENCE,)
        assert action.waits_for == expected


# A live conference --------------------------------------------------------------


def test_everyone_live_as_the_file_says_is_all_noop(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, PEOPLE)
    live = everyone_live(spec)
    plan = make_plan(spec, LiveState(conference=live_conference(), participants=live))
    assert plan.conference_sid == CONFERENCE_SID and plan.conference_status == "in-progress"
    assert plan.creator is None  # the conference exists: nobody creates it
    assert [a.kind for a in plan.actions] == ["noop", "noop", "noop"]
    assert [a.live for a in plan.actions] == [live["alice"], live["bob"], live["carol"]]
    assert all(not a.changes_anything and not a.redial_pending for a in plan.actions)
    assert not plan.changes_present and not plan.drift


def test_someone_missing_from_a_live_conference_is_dialed_without_waiting(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, PEOPLE)
    live = everyone_live(spec)
    del live["bob"]
    plan = make_plan(spec, LiveState(conference=live_conference(), participants=live))
    bob = by_name(plan)["bob"]
    assert (bob.kind, bob.waits_for) == ("dial", ())  # the conference's SID is known
    assert plan.changes_present and plan.drift


def test_muted_and_hold_that_differ_are_an_update_in_place(tmp_path: Path) -> None:
    people = [*PEOPLE[:2], {**PEOPLE[2], "hold": True}]
    spec = spec_of(tmp_path, people)
    # carol is a listener (muted) put on hold by the file; live she is neither.
    live = everyone_live(spec, bob={"muted": True}, carol={"muted": False, "hold": False})
    plan = make_plan(spec, LiveState(conference=live_conference(), participants=live))
    actions = by_name(plan)
    assert actions["alice"].kind == "noop"
    assert actions["bob"].kind == "update"
    assert actions["bob"].changes == (
        Change(field="muted", live=True, desired=False, policy="update"),
    )
    assert actions["carol"].changes == (
        Change(field="muted", live=False, desired=True, policy="update"),
        Change(field="hold", live=False, desired=True, policy="update"),
    )
    assert actions["carol"].waits_for == ()  # only a coaching change waits for someone
    assert plan.changes_present and plan.drift


def test_coaching_that_differs_is_an_update_that_waits_for_the_coachee(tmp_path: Path) -> None:
    people = [
        {"name": "agent", "to": "+12065550101", "role": "host"},
        {"name": "customer", "to": "+12065550102"},
        {"name": "coach", "to": "+12065550103", "role": "coach", "coach": "agent"},
    ]
    spec = spec_of(tmp_path, people)
    # The coach coaches the customer live; the file says the agent. The customer is coached
    # by nobody in the file, yet live it coaches someone.
    live = everyone_live(
        spec,
        coach={"coaching": True, "coaching_call_sid": "v3:customer"},
        customer={"coaching": True, "coaching_call_sid": "v3:agent"},
    )
    plan = make_plan(spec, LiveState(conference=live_conference(), participants=live))
    actions = by_name(plan)
    # Whom a call coaches live is named as the file names it.
    assert actions["coach"].changes == (
        Change(field="coach", live="customer", desired="agent", policy="update"),
    )
    assert actions["coach"].waits_for == ("agent",)
    assert actions["customer"].changes == (
        Change(field="coach", live="agent", desired=None, policy="update"),
    )
    assert actions["customer"].waits_for == ()
    assert actions["agent"].kind == "noop"


def test_a_coach_coaching_its_target_already_is_unchanged(tmp_path: Path) -> None:
    people = [
        {"name": "agent", "to": "+12065550101", "role": "host"},
        {"name": "coach", "to": "+12065550103", "role": "coach", "coach": "agent"},
    ]
    spec = spec_of(tmp_path, people)
    live = everyone_live(spec, coach={"coaching": True, "coaching_call_sid": "v3:agent"})
    plan = make_plan(spec, LiveState(conference=live_conference(), participants=live))
    assert [a.kind for a in plan.actions] == ["noop", "noop"]


def test_a_coachee_missing_from_a_live_conference_is_dialed_without_waiting(
    tmp_path: Path,
) -> None:
    people = [
        {"name": "agent", "to": "+12065550101", "role": "host"},
        {"name": "coach", "to": "+12065550103", "role": "coach", "coach": "agent"},
    ]
    spec = spec_of(tmp_path, people)
    live = everyone_live(spec, coach={"coaching": True, "coaching_call_sid": "v3:gone"})
    del live["agent"]
    agent = by_name(make_plan(spec, LiveState(conference=live_conference(), participants=live)))[
        "agent"
    ]
    assert (agent.kind, agent.waits_for) == ("dial", ())


# What only a new dial can change -------------------------------------------------


def test_a_new_number_needs_a_redial_that_only_redial_changed_plans(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, PEOPLE)
    live = everyone_live(spec)
    # bob was dialed at his fallback (still in the file): fine. carol at a number now gone.
    destinations = {"alice": "+12065550100", "bob": "+12065550191", "carol": "+12065550199"}
    state = LiveState(conference=live_conference(), participants=live, destinations=destinations)

    kept = make_plan(spec, state)
    actions = by_name(kept)
    assert actions["bob"].needs_redial == ()
    carol = actions["carol"]
    assert (carol.kind, carol.needs_redial, carol.redial_pending) == ("noop", ("to",), True)
    assert not kept.changes_present  # apply would send nothing...
    assert kept.drift  # ...but the live conference is not what the file says
    assert kept.destinations == destinations
    assert carol.changes == (
        Change(field="to", live="+12065550199", desired="+12065550102", policy="redial"),
    )
    assert kept.differs  # plan --detailed-exitcode says so

    redialing = make_plan(spec, state, redial_changed=True)
    carol = by_name(redialing)["carol"]
    assert (carol.kind, carol.needs_redial, carol.redial_pending) == ("redial", ("to",), False)
    assert carol.live == live["carol"] and carol.waits_for == ()
    assert redialing.changes_present and redialing.drift


def test_a_recorded_setting_that_changed_needs_a_redial(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, PEOPLE)
    bob = spec.participant("bob")
    dialed_with = {**fingerprint(bob, spec.conference), "record": True, "caller_id": "Support"}
    state = LiveState(
        conference=live_conference(),
        participants=everyone_live(spec),
        fingerprints={
            "alice": fingerprint(spec.participant("alice"), spec.conference),
            "bob": dialed_with,
        },
    )
    actions = by_name(make_plan(spec, state))
    assert actions["alice"].needs_redial == ()
    assert actions["bob"].needs_redial == ("caller_id", "record")  # the settings table's order
    assert actions["carol"].needs_redial == ()  # no record of her dial: nothing to compare


def test_an_update_can_also_need_a_redial(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, PEOPLE)
    state = LiveState(
        conference=live_conference(),
        participants=everyone_live(spec, bob={"muted": True}),
        destinations={"bob": "+12065550177"},
    )
    bob = by_name(make_plan(spec, state))["bob"]
    assert bob.kind == "update" and bob.updates == (
        Change(field="muted", live=True, desired=False, policy="update"),
    )
    assert bob.needs_redial == ("to",) and bob.redial_pending


def test_a_coach_redialed_waits_for_whom_it_coaches(tmp_path: Path) -> None:
    people = [
        {"name": "agent", "to": "+12065550101", "role": "host"},
        {"name": "coach", "to": "+12065550103", "role": "coach", "coach": "agent"},
    ]
    spec = spec_of(tmp_path, people)
    state = LiveState(
        conference=live_conference(),
        participants=everyone_live(spec, coach={"coaching": True, "coaching_call_sid": "v3:agent"}),
        destinations={"coach": "+12065550104"},
    )
    coach = by_name(make_plan(spec, state, redial_changed=True))["coach"]
    assert (coach.kind, coach.waits_for) == ("redial", ("agent",))


# Live participants the file does not name ----------------------------------------


def test_strays_are_hung_up_only_with_prune(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, PEOPLE)
    state = LiveState(
        conference=live_conference(),
        participants=everyone_live(spec),
        strays={"dave": leg("v3:dave")},
        unlabeled=("v3:stranger",),
    )
    left = make_plan(spec, state)
    assert left.strays == (Stray(label="dave", call_sid="v3:dave", hang_up=False),)
    assert left.unlabeled == ("v3:stranger",)
    assert not left.changes_present  # left alone...
    assert left.drift  # ...but status reports it

    pruned = make_plan(spec, state, prune=True)
    assert pruned.strays == (Stray(label="dave", call_sid="v3:dave", hang_up=True),)
    assert pruned.changes_present and pruned.drift


def test_a_call_without_a_label_alone_is_no_drift(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, PEOPLE)
    state = LiveState(
        conference=live_conference(), participants=everyone_live(spec), unlabeled=("v3:stranger",)
    )
    plan = make_plan(spec, state, prune=True)
    assert plan.unlabeled == ("v3:stranger",) and plan.strays == ()
    assert not plan.changes_present and not plan.drift  # never touched, never ours


# A record written before settings were named by their YAML key ------------------


def _old_record(tmp_path: Path, spec: ConferenceSpec) -> StateStore:
    """bob's record as it was written while the record said codecs and headers."""
    old = {
        "to": ["+12065550101", "+12065550191"],
        "record": None,
        "recording": None,
        "machine_detection": None,
        "sip_auth": None,
        "caller_id": None,
        "from": None,  # the participant's own; the dial carried the conference's
        "timeout": 20,
        "time_limit": None,
        "codecs": ["PCMU"],
        "headers": [["X-Ticket", "4711"]],
    }
    document = {
        "version": 1,
        "account_sid": "acct-1",
        "conference": "test-bridge",
        "participants": {
            "bob": {
                "call_sid": "v3:bob",
                "conference_sid": CONFERENCE_SID,
                "to": "+12065550101",
                "fingerprint": old,
            }
        },
    }
    store = StateStore(tmp_path / "state")
    path = store.path_for(spec.path, "acct-1", "test-bridge")
    path.parent.mkdir()
    path.write_text(json.dumps(document), encoding="utf-8")
    return store


@pytest.mark.parametrize(
    ("edit", "needs_redial"),
    [({}, ()), ({"preferred_codecs": ["PCMA"]}, ("preferred_codecs",))],
    ids=["same", "codecs-edited"],
)
def test_an_old_record_still_matches_and_still_tells_a_change(
    tmp_path: Path, edit: dict[str, Any], needs_redial: tuple[str, ...]
) -> None:
    bob = {**PEOPLE[1], "timeout": 20, "preferred_codecs": ["PCMU"]}
    people = [PEOPLE[0], {**bob, "custom_headers": {"X-Ticket": "4711"}, **edit}, PEOPLE[2]]
    spec = spec_of(tmp_path, people)
    recorded = _old_record(tmp_path, spec).load(spec.path, "acct-1", "test-bridge")
    state = LiveState(
        conference=live_conference(),
        participants=everyone_live(spec),
        destinations={"bob": "+12065550101"},
        fingerprints={"bob": recorded.participants["bob"].fingerprint},
    )
    action = by_name(make_plan(spec, state))["bob"]
    assert action.needs_redial == needs_redial
    assert [c.field for c in action.changes] == list(needs_redial)
