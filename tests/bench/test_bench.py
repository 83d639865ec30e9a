"""Smoke runs of every benchmark at tiny sizes, and the validity checks that guard their results.

Each run is real: the sandbox in its own process, the clients in theirs, over
loopback HTTP. Sizes are tiny so the whole file stays within a few seconds per
benchmark; the numbers are not asserted, the validity of each run is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main
from bench.applies import start_apply
from bench.checks import count_dials
from bench.dialing import expected_numbers, measure, run_floor
from bench.runner import run_worker
from bench.sandbox import sandbox_process
from bench.specs import conference_document, write_conference
from bench.throughput import ideal_seconds

pytestmark = pytest.mark.bench


def run_benchmark(tmp_path: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    destination = tmp_path / "result.json"
    code = main([*argv, "--json", str(destination)])
    return code, json.loads(destination.read_text(encoding="utf-8"))


def test_throughput_dials_everyone_once_with_every_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = run_benchmark(
        tmp_path, "throughput", "--participants", "12", "--repeat", "1", "--latency-ms", "5"
    )
    assert code == 0, result["invalid"]
    assert result["invalid"] == []
    for client in ("ours", "sdk", "floor"):
        (run,) = result["runs"][client]
        assert run["dial_responses"] == 12
        assert 0 < run["all_dialed_s"] < run["process_wall_s"]
    assert result["runs"]["ours"][0]["exit_codes"] == [0]
    assert result["runs"]["cli"][0]["returncode"] == 0
    # The lookup and the creating dial, then the other 11 in one round: 3 x 5 ms.
    assert result["ideal_s"] == pytest.approx(0.015)
    table = capsys.readouterr().out
    assert "| ideal / measured |" in table
    assert "| orchestrator: dials / lost / duplicated | 24 / 0 / 0 |" in table


@pytest.mark.parametrize(
    ("participants", "concurrency", "round_trips"),
    [(1, 50, 2), (2, 50, 3), (51, 50, 3), (52, 50, 4), (800, 50, 18)],
)
def test_throughput_ideal_is_two_round_trips_in_series_then_rounds_of_c(
    participants: int, concurrency: int, round_trips: int
) -> None:
    assert ideal_seconds(participants, concurrency, 0.05) == pytest.approx(round_trips * 0.05)


def test_paced_run_meets_no_429_and_counts_the_sdk(tmp_path: Path) -> None:
    code, result = run_benchmark(
        tmp_path,
        "paced",
        "--participants",
        "8",
        "--dials-per-second",
        "10",
        "--dial-window",
        "0.5",
        "--latency-ms",
        "5",
    )
    assert code == 0, result["invalid"]
    assert result["limit_per_window"] == 5
    # latency + floor(7 / 5) windows of 0.5 s
    assert result["bound_s"] == pytest.approx(0.505)
    assert result["ours_429s"] == 0
    assert result["ours_all_dialed_s"] >= result["bound_s"] * 0.99
    # Three of eight cannot fit in the first window: the SDK meets 429s and retries.
    assert result["sdk_429s"] >= 3
    assert result["sdk_lost"] + result["runs"]["sdk"]["dial_responses"] == 8


def test_scale_reports_time_and_peak_rss(tmp_path: Path) -> None:
    code, result = run_benchmark(
        tmp_path, "scale", "--conferences", "2", "--participants", "10", "--latency-ms", "5"
    )
    assert code == 0, result["invalid"]
    assert 20 < result["cli_peak_rss_mb"] < 1000
    assert result["runs"]["ours"]["dial_responses"] == 20
    assert result["runs"]["cli"]["returncode"] == 0


def test_validate_compares_both_tools_on_good_and_broken_files(tmp_path: Path) -> None:
    code, result = run_benchmark(tmp_path, "validate", "--participants", "20", "--repeat", "1")
    assert code == 0, result["invalid"]
    assert result["ours_validate_s"] > 0
    assert result["check_jsonschema_s"] > 0
    assert result["help_s"] > 0 and result["validate_examples_s"] > 0


def test_startup_profiles_each_command(tmp_path: Path) -> None:
    code, result = run_benchmark(tmp_path, "startup", "--repeat", "1")
    assert code == 0, result["invalid"]
    assert set(result["imports_ms"]) == {"help", "validate", "apply", "sandbox"}
    assert all(ms > 0 for ms in result["imports_ms"].values())
    (first_dial,) = result["apply_first_dial_s"]
    assert 0 < first_dial < 30


def test_a_sandbox_that_cannot_start_makes_the_run_invalid(tmp_path: Path) -> None:
    code, result = run_benchmark(
        tmp_path, "throughput", "--participants", "2", "--latency-ms", "-1"
    )
    assert code == 1
    assert any("sandbox" in problem for problem in result["invalid"])


def test_a_participant_never_dialed_is_caught_from_the_sandbox_record(tmp_path: Path) -> None:
    full = write_conference(tmp_path / "full", "half-dialed", 6)
    half = write_conference(tmp_path / "half", "half-dialed", 3)
    with sandbox_process({"seed": 9}, tmp_path / "sandbox") as sandbox:
        side = measure(
            sandbox,
            "floor",
            [full],
            lambda: run_worker(["floor", str(half)], env=sandbox.client_environment()),
        )
        again = run_floor(sandbox, half, concurrency=4)
    (count,) = side.counts
    assert count.dials == 3
    assert len(count.missing) == 3
    assert any("never dialed" in problem for problem in side.exactly_once_problems())
    # Dialing the same labels again into the live conference is refused (422), not doubled.
    assert again.dials == 3
    assert again.result["failures"] == {"422": 3}


def test_an_apply_process_reports_what_it_sent_and_the_429s_it_met(tmp_path: Path) -> None:
    files = [
        write_conference(tmp_path, "reported-a", 4),
        write_conference(tmp_path, "reported-b", 3, block=1),
    ]
    with sandbox_process({"seed": 3, "time_scale": 0.01}, tmp_path / "sandbox") as sandbox:
        apply = start_apply(sandbox, "both", files, tmp_path, state_dir=tmp_path / "state")
        run = apply.finish(60)
    assert run.returncode == 0, run.stderr
    # Read from the apply's own --report: what the contention rows are made of.
    names = [report["conference"]["name"] for report in apply.reports]
    assert names == ["reported-a", "reported-b"]
    assert apply.dials_sent == 7
    assert apply.rate_limited == 0


def test_count_dials_names_every_kind_of_wrong_run() -> None:
    expected = {"a": "+1", "b": "+2", "c": "+3"}
    dials = [
        {"conference_sid": "C1", "label": "a", "to": "+1"},
        {"conference_sid": "C1", "label": "a", "to": "+1"},
        {"conference_sid": "C1", "label": "b", "to": "+9"},
        {"conference_sid": "C2", "label": "z", "to": "+4"},
        {"conference_sid": "other", "label": "c", "to": "+3"},
    ]
    count = count_dials(dials, ["C1", "C2"], expected)
    assert count.dials == 4
    assert count.missing == ("c",)
    assert count.duplicated == {"a": 2}
    assert count.unexpected == ("z",)
    assert count.wrong_number == ("b",)
    problems = " | ".join(count.problems(conferences_expected=1))
    for phrase in ("never dialed", "more than once", "unexpected", "wrong number", "2 conference"):
        assert phrase in problems
    clean = count_dials([dials[0], dials[2] | {"to": "+2"}], ["C1"], {"a": "+1", "b": "+2"})
    assert clean.problems(conferences_expected=1) == []


def test_conference_files_are_valid_and_distinct_per_block(tmp_path: Path) -> None:
    first = conference_document("one", 5, block=0)
    second = conference_document("two", 5, block=1)
    numbers = {p["to"] for p in first["participants"]} | {p["to"] for p in second["participants"]}
    assert len(numbers) == 10
    path = write_conference(tmp_path, "one", 5)
    assert expected_numbers(path) == {p["name"]: p["to"] for p in first["participants"]}


def test_record_reads_the_growth_of_both_run_folders(tmp_path: Path) -> None:
    code, result = run_benchmark(
        tmp_path, "record", "--participants", "6", "--watch-s", "1.5", "--interval", "0.5"
    )
    assert code == 0, result["invalid"]
    assert result["apply"]["dialed"] == 6
    assert result["bytes_per_participant_event"] > 0
    assert result["watch"]["rounds"] >= 1


def test_board_pages_are_served_and_cost_no_api_read(tmp_path: Path) -> None:
    code, result = run_benchmark(
        tmp_path, "board", "--conferences", "2", "--participants", "4", "--pages", "3",
        "--seconds", "4", "--repeat", "1",
    )  # fmt: skip
    assert code == 0, result["invalid"]
    runs = {pages: found[0] for pages, found in result["runs"].items()}
    assert [len(runs[pages]["received"]) for pages in ("0", "1", "3")] == [0, 1, 3]
    assert all(page["snapshots"] >= 1 and page["event_bytes"] for page in runs["3"]["received"])
    assert all(run["requests"]["POST"] == 8 for run in runs.values())  # everyone dialed once


def test_watch_cost_lets_a_watch_with_verified_callbacks_rest(tmp_path: Path) -> None:
    code, result = run_benchmark(
        tmp_path, "watch-cost", "--parts", "idle", "--idle-modes", "callbacks",
        "--conferences", "1", "--participants", "2", "--idle-seconds", "0.3",
        "--settle-seconds", "0.3",
    )  # fmt: skip
    assert code == 0, result["invalid"]
    [idle] = result["idle"]
    # The sandbox's signed callbacks reached --listen and were verified: polling rests.
    assert idle["callbacks"] and idle["callbacks_taken"] >= 2
    assert idle["modes"] == {"idle-0": "callbacks"}
    assert idle["gets"] == 0  # nothing read in the idle window: the safety net is a minute
