"""plan against the sandbox over HTTP, as a user runs it."""

from __future__ import annotations

import copy
import json

from orchestrator import exit_codes
from tests.cli.support import PEOPLE, CliSession, lines_of


def test_plan_on_a_fresh_conference_dials_everyone(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    result = cli.run("plan", str(path), "--detailed-exitcode")
    assert result.returncode == exit_codes.CHANGES, result.stderr
    lines = lines_of(result.stdout)
    assert lines[0] == f"Conference test-bridge ({path}): not created yet"
    assert lines[1:] == [
        "+ dial alice (+1206\u2022\u2022\u20220100, host)",
        "+ dial bob (+1206\u2022\u2022\u20220101, participant)",
        "+ dial carol (+1206\u2022\u2022\u20220102, participant)",
        "Plan: 3 to dial, 0 to update, 0 to hang up.",
    ]
    assert cli.run("plan", str(path)).returncode == 0  # changes alone are no error
    assert cli.dial_count() == 0


def test_plan_after_apply_is_all_unchanged(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    result = cli.run("plan", str(path), "--detailed-exitcode")
    assert result.returncode == exit_codes.OK, result.stdout + result.stderr
    assert lines_of(result.stdout)[1:] == [
        "= alice unchanged",
        "= bob unchanged",
        "= carol unchanged",
        "Plan: 0 to dial, 0 to update, 0 to hang up. 3 unchanged.",
    ]


def test_edited_muted_is_an_update_and_apply_sends_no_new_dial(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    dials = cli.dial_count()
    people = copy.deepcopy(PEOPLE)
    people[1]["muted"] = True
    cli.write(people)

    result = cli.run("plan", str(path), "--detailed-exitcode")
    assert result.returncode == exit_codes.CHANGES
    assert "~ bob: muted false -> true (updated in place)" in lines_of(result.stdout)
    assert "Plan: 0 to dial, 1 to update, 0 to hang up. 2 unchanged." in result.stdout

    applied = cli.apply(path)
    assert "updated muted" in applied.stdout
    assert cli.dial_count() == dials  # updated in place, nobody dialed
    sid = cli.conference_sid()
    bob = cli.api(lambda c: c.get_participant(sid, "bob"))
    assert bob["muted"] is True
    assert cli.run("plan", str(path), "--detailed-exitcode").returncode == exit_codes.OK


def test_participant_removed_from_the_file_is_unmanaged_until_prune(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    cli.write(PEOPLE[:2])  # carol is gone from the file

    result = cli.run("plan", str(path), "--detailed-exitcode")
    assert result.returncode == exit_codes.OK  # apply without --prune would do nothing
    assert "? carol unmanaged (not in file; apply --prune hangs it up)" in lines_of(result.stdout)

    applied = cli.apply(path)
    assert "apply --prune hangs it up" in applied.stdout
    assert cli.live_labels("carol") == {"carol": True}  # left alone

    pruning = cli.run("plan", str(path), "--prune", "--detailed-exitcode")
    assert pruning.returncode == exit_codes.CHANGES
    assert "- hang up carol (not in file; --prune)" in lines_of(pruning.stdout)
    assert "Plan: 0 to dial, 0 to update, 1 to hang up. 2 unchanged." in pruning.stdout

    # Without a terminal to ask on, --prune needs --yes: nobody is hung up unasked.
    unasked = cli.run("apply", str(path), "--prune", "-q")
    assert unasked.returncode == exit_codes.USAGE, unasked.stdout + unasked.stderr
    assert unasked.stderr.splitlines() == [
        "error: apply --prune may hang up live calls and there is no terminal to confirm on; "
        "pass --yes (nothing was dialed or hung up)"
    ]
    assert cli.live_labels("carol") == {"carol": True}

    pruned = cli.apply(path, "--prune", "--yes")
    assert "hung up (--prune)" in pruned.stdout
    assert cli.live_labels("alice", "bob", "carol") == {
        "alice": True,
        "bob": True,
        "carol": False,
    }
    after = cli.run("plan", str(path), "--prune", "--detailed-exitcode")
    assert after.returncode == exit_codes.OK
    assert "carol" not in after.stdout


def test_participant_that_hung_up_live_is_dialed_again(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    sid = cli.conference_sid()
    cli.api(lambda c: c.delete_participant(sid, "bob"))

    result = cli.run("plan", str(path))
    assert "+ dial bob (+1206\u2022\u2022\u20220101, participant)" in lines_of(result.stdout)
    dials = cli.dial_count()
    cli.apply(path)
    assert cli.dial_count() == dials + 1
    assert cli.live_labels("bob") == {"bob": True}


def test_a_call_without_label_is_listed_and_never_touched(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    sid = cli.conference_sid()
    stranger = cli.api(
        lambda c: c.dial(sid, {"To": "+12065550177", "From": "+12065550200"})
    ).resource["call_sid"]

    result = cli.run("plan", str(path), "--prune")
    assert f"? {stranger} (no Label known; never touched)" in lines_of(result.stdout)
    cli.apply(path, "--prune", "--yes")
    assert cli.api(lambda c: c.find_participant(sid, stranger)) is not None


def test_new_number_needs_a_redial_and_redial_changed_does_it(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    people = copy.deepcopy(PEOPLE)
    people[2]["to"] = "+12065550199"
    cli.write(people)

    result = cli.run("plan", str(path), "--detailed-exitcode")
    assert result.returncode == exit_codes.CHANGES  # the file differs from the live call
    assert (
        "! carol: to +1206\u2022\u2022\u20220102 -> +1206\u2022\u2022\u20220199 "
        "(takes effect when redialed: --redial-changed)"
    ) in lines_of(result.stdout)
    dials = cli.dial_count()
    kept = cli.apply(path)
    assert "needs redial: to changed (apply --redial-changed)" in kept.stdout
    assert cli.dial_count() == dials
    # Until it is redialed, it still differs.
    assert cli.run("plan", str(path), "--detailed-exitcode").returncode == exit_codes.CHANGES

    planned = cli.run("plan", str(path), "--redial-changed", "--detailed-exitcode")
    assert planned.returncode == exit_codes.CHANGES
    assert (
        "-/+ carol: to +1206\u2022\u2022\u20220102 -> +1206\u2022\u2022\u20220199 (redialed)"
    ) in lines_of(planned.stdout)
    cli.apply(path, "--redial-changed", "--yes")
    dialed = cli.dials()
    assert [d["to"] for d in dialed[dials:]] == ["+12065550199"]
    assert cli.run("plan", str(path), "--detailed-exitcode").returncode == exit_codes.OK


def test_changed_recording_setting_needs_a_redial(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    people = copy.deepcopy(PEOPLE)
    people[1]["record"] = True
    cli.write(people)
    result = cli.run("plan", str(path))
    assert "! bob: record false -> true (takes effect when redialed: --redial-changed)" in (
        lines_of(result.stdout)
    )


def test_plan_json_and_github(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    people = copy.deepcopy(PEOPLE)
    people[1]["muted"] = True
    cli.write([*people, {"name": "dave", "to": "+12065550103"}])

    document = json.loads(cli.run("plan", str(path), "-o", "json").stdout)
    [conference] = document["conferences"]
    actions = {a["name"]: a for a in conference["actions"]}
    assert actions["bob"]["action"] == "update"
    assert actions["bob"]["changes"] == [
        {"field": "muted", "from": False, "to": True, "policy": "update"}
    ]
    assert actions["dave"]["action"] == "dial"
    assert actions["dave"]["to"] == "+1206\u2022\u2022\u20220103"
    assert actions["alice"]["action"] == "unchanged"
    assert document["totals"]["dial"] == 1
    assert document["changes_present"] is True

    github = cli.run("plan", str(path), "-o", "github").stdout.splitlines()
    # On the line of the setting that changed, which bob's entry sets itself.
    muted_line = path.read_text().splitlines().index("  muted: true") + 1
    assert muted_line > actions["bob"]["line"]
    assert any(
        line.startswith(f"::notice file={path},line={muted_line},")
        and line.endswith("::~ bob: muted false -> true (updated in place)")
        for line in github
    ), github
    assert any(line.startswith("::notice") and "+ dial dave" in line for line in github)
    assert not any("alice" in line for line in github)
    assert github[-1] == "Plan: 1 to dial, 1 to update, 0 to hang up. 2 unchanged."
