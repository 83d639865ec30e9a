"""plan's output from plans made against hand-built live state: one mark per kind of line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.engine.planner import Change, LiveState, Plan, make_plan
from orchestrator.report.plan import (
    PLAN_REPORTERS,
    describe_change,
    render_plan_github,
    render_plan_json,
    render_plan_text,
)
from orchestrator.spec.model import ConferenceSpec
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
    {"name": "dave", "to": "+12065550103"},
]


def team(tmp_path: Path, people: list[dict[str, Any]] = PEOPLE) -> ConferenceSpec:
    # A comma and a colon in the file name: GitHub annotations must escape both.
    return load(conference_file(tmp_path, people, filename="team,a:b.yaml"))


def every_kind(spec: ConferenceSpec) -> LiveState:
    """alice as the file says, bob muted live, carol dialed at an old number, dave not there,
    eve dialed from the file once and no longer in it, and a call without a Label."""
    live = everyone_live(spec, bob={"muted": True})
    del live["dave"]
    return LiveState(
        conference=live_conference(),
        participants=live,
        destinations={"carol": "+12065550199"},
        strays={"eve": leg("v3:eve")},
        unlabeled=("v3:stranger",),
    )


def test_every_kind_of_line_as_apply_would_run_without_flags(tmp_path: Path) -> None:
    spec = team(tmp_path)
    text = render_plan_text([make_plan(spec, every_kind(spec))])
    assert text == (
        f"Conference test-bridge ({spec.path}): {CONFERENCE_SID}, in-progress\n"
        "  = alice unchanged\n"
        "  ~ bob: muted true -> false (updated in place)\n"
        # Instead of its "=" line; the numbers masked.
        "  ! carol: to +1206\u2022\u2022\u20220199 -> +1206\u2022\u2022\u20220102 "
        "(takes effect when redialed: --redial-changed)\n"
        "  + dial dave (+1206\u2022\u2022\u20220103, participant)\n"
        "  ? eve unmanaged (not in file; apply --prune hangs it up)\n"
        "  ? v3:stranger (no Label known; never touched)\n"
        "\n"
        # Each of the four counted once: carol needs a redial, so she is not unchanged.
        "Plan: 1 to dial, 1 to update, 0 to hang up. "
        "1 unchanged, 1 needing a redial, 1 unmanaged.\n"
    )


def test_prune_and_redial_changed_turn_them_into_hang_up_and_redial(tmp_path: Path) -> None:
    spec = team(tmp_path)
    plan = make_plan(spec, every_kind(spec), prune=True, redial_changed=True)
    lines = render_plan_text([plan]).splitlines()
    assert lines[1:] == [
        "  = alice unchanged",
        "  ~ bob: muted true -> false (updated in place)",
        "  -/+ carol: to +1206\u2022\u2022\u20220199 -> +1206\u2022\u2022\u20220102 (redialed)",
        "  + dial dave (+1206\u2022\u2022\u20220103, participant)",
        "  - hang up eve (not in file; --prune)",
        "  ? v3:stranger (no Label known; never touched)",
        "",
        "Plan: 1 to dial, 1 to update, 1 to hang up. 1 to redial, 1 unchanged.",
    ]


def test_an_update_that_also_needs_a_redial_shows_both(tmp_path: Path) -> None:
    spec = team(tmp_path)
    state = LiveState(
        conference=live_conference(),
        participants=everyone_live(spec, bob={"muted": True}),
        destinations={"bob": "+12065550177"},
    )
    lines = render_plan_text([make_plan(spec, state)]).splitlines()
    assert lines[2:4] == [
        "  ! bob: to +1206\u2022\u2022\u20220177 -> +1206\u2022\u2022\u20220101 "
        "(takes effect when redialed: --redial-changed)",
        "  ~ bob: muted true -> false (updated in place)",
    ]
    assert lines[-1] == "Plan: 0 to dial, 1 to update, 0 to hang up. 3 unchanged."


def test_a_conference_not_created_yet(tmp_path: Path) -> None:
    spec = team(tmp_path)
    lines = render_plan_text([make_plan(spec, LiveState(conference=None))]).splitlines()
    assert lines[0] == f"Conference test-bridge ({spec.path}): not created yet"
    assert lines[1] == "  + dial alice (+1206\u2022\u2022\u20220100, host)"
    assert lines[3] == "  + dial carol (+1206\u2022\u2022\u20220102, listener)"
    assert lines[-1] == "Plan: 4 to dial, 0 to update, 0 to hang up."


def test_several_files_are_blocks_with_one_plan_line_for_all(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = team(tmp_path / "a"), team(tmp_path / "b")
    plans = [make_plan(first, every_kind(first)), make_plan(second, LiveState(conference=None))]
    text = render_plan_text(plans)
    assert text.count("Conference test-bridge") == 2
    assert "never touched)\n\nConference test-bridge" in text
    assert text.endswith(
        "\n\nPlan: 5 to dial, 1 to update, 0 to hang up. "
        "1 unchanged, 1 needing a redial, 1 unmanaged.\n"
    )


def test_changes_name_none_and_booleans_as_the_file_would() -> None:
    assert describe_change(Change(field="coach", live=None, desired="agent", policy="update")) == (
        "coach none -> agent"
    )
    hold = Change(field="hold", live=False, desired=True, policy="update")
    assert describe_change(hold) == "hold false -> true"


def test_changed_values_show_no_secret_and_structures_only_as_changed() -> None:
    url = Change(
        field="wait_url",
        live="https://user:pw@music.example/a?token=1",
        desired="https://music.example/b",
        policy="update",
    )
    assert (
        describe_change(url)
        == "wait_url https://***@music.example/a?*** -> https://music.example/b"
    )
    codecs = Change(field="preferred_codecs", live=[], desired=["PCMA", "PCMU"], policy="redial")
    assert describe_change(codecs) == "preferred_codecs none -> PCMA, PCMU"
    headers = Change(
        field="custom_headers", live=[], desired=[["X-Token", "s3cret"]], policy="redial"
    )
    assert describe_change(headers) == "custom_headers none -> X-Token"  # names, never values
    recording = Change(field="recording", live=None, desired={"channels": "dual"}, policy="redial")
    assert describe_change(recording) == "recording changed"


def test_the_json_plan_for_scripts(tmp_path: Path) -> None:
    spec = team(tmp_path)
    document = json.loads(render_plan_json([make_plan(spec, every_kind(spec))]))
    [conference] = document["conferences"]
    assert conference["file"] == spec.path
    assert conference["conference"] == {
        "name": "test-bridge",
        "sid": CONFERENCE_SID,
        "status": "in-progress",
    }
    actions = {a["name"]: a for a in conference["actions"]}
    assert actions["alice"] == {
        "action": "unchanged",
        "name": "alice",
        "role": "host",
        "to": "+1206\u2022\u2022\u20220100",
        "changes": [],
        "needs_redial": [],
        "line": spec.participant("alice").location.line,
        "col": spec.participant("alice").location.col,
    }
    assert actions["bob"]["changes"] == [
        {"field": "muted", "from": True, "to": False, "policy": "update"}
    ]
    assert (actions["carol"]["action"], actions["carol"]["needs_redial"]) == ("unchanged", ["to"])
    assert actions["carol"]["changes"] == [
        {
            "field": "to",
            "from": "+1206\u2022\u2022\u20220199",
            "to": "+1206\u2022\u2022\u20220102",
            "policy": "redial",
        }
    ]
    assert actions["dave"]["action"] == "dial"
    assert actions["eve"] == {"action": "unmanaged", "name": "eve", "call_sid": "v3:eve"}
    assert conference["unlabeled"] == ["v3:stranger"]
    assert document["totals"] == {
        "dial": 1,
        "update": 1,
        "hang_up": 0,
        "redial": 0,
        "unchanged": 1,
        "needs_redial": 1,
        "next_dial": 0,
        "unmanaged": 1,
        "unlabeled": 1,
    }
    assert document["version"] == 1 and document["changes_present"] is True
    assert document["differs"] is True and conference["differs"] is True


def test_nothing_to_do_is_no_changes_present(tmp_path: Path) -> None:
    spec = team(tmp_path)
    state = LiveState(conference=live_conference(), participants=everyone_live(spec))
    document = json.loads(render_plan_json([make_plan(spec, state)]))
    assert document["changes_present"] is False and document["differs"] is False
    assert {a["action"] for a in document["conferences"][0]["actions"]} == {"unchanged"}


def test_github_notices_stand_on_the_lines_that_change(tmp_path: Path) -> None:
    spec = team(tmp_path)
    lines = render_plan_github([make_plan(spec, every_kind(spec))]).splitlines()
    escaped = spec.path.replace(",", "%2C").replace(":", "%3A")

    def at(name: str) -> str:
        location = spec.participant(name).location
        return f"::notice file={escaped},line={location.line},col={location.col}::"

    strays_at = spec.location_of(("participants",))
    to = spec.location_of(("participants", 2, "to"))
    assert to.line > spec.participant("carol").location.line
    assert lines == [
        at("bob") + "~ bob: muted true -> false (updated in place)",  # bob's entry sets no muted
        # On carol's own to, which her entry sets.
        f"::notice file={escaped},line={to.line},col={to.col}::"
        "! carol: to +1206\u2022\u2022\u20220199 -> +1206\u2022\u2022\u20220102 "
        "(takes effect when redialed: --redial-changed)",
        at("dave") + "+ dial dave (+1206\u2022\u2022\u20220103, participant)",
        f"::notice file={escaped},line={strays_at.line},col={strays_at.col}::"
        "eve is live but not in the file (apply --prune hangs it up)",
        "Plan: 1 to dial, 1 to update, 0 to hang up. 1 unchanged, 1 needing a redial, 1 unmanaged.",
    ]


def test_a_github_notice_points_at_the_setting_when_the_entry_sets_it(tmp_path: Path) -> None:
    people = [PEOPLE[0], {**PEOPLE[1], "muted": True}]
    spec = team(tmp_path, people)
    state = LiveState(
        conference=live_conference(), participants=everyone_live(spec, bob={"muted": False})
    )
    plan: Plan = make_plan(spec, state)
    [notice, _] = render_plan_github([plan]).splitlines()
    muted = spec.location_of(("participants", 1, "muted"))
    assert muted.line > spec.participant("bob").location.line
    assert f",line={muted.line},col={muted.col}::~ bob: muted false -> true (updated in place)" in (
        notice
    )


def test_every_output_choice_has_a_reporter() -> None:
    assert sorted(PLAN_REPORTERS) == ["github", "json", "text"]
