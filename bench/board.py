"""(10) Board: what open pages of ``apply --watch --board`` cost: API reads (none) and CPU.

``orchestrator apply F1..Fc --watch --board H:P --listen H:P`` of C conferences of N
participants (no dial limit, every leg answering after the default ring) for S seconds from
its start, against a fresh sandbox, twice: without pages, then with P pages opened as soon as
the board's URL is printed. A page is what a browser asks of the server: the page (its token
traded for the cookie), its stylesheet and two scripts, then the event stream held open and read
to its end. Reported, for each run: the sandbox's API requests by method, the watch's rounds
(``/healthz``, on the same port), so GETs per round; the apply process's CPU seconds (user +
system, read from /proc just before Ctrl-C); what the pages received. The run with pages is
invalid if it costs more GETs per round than the one without.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any
from urllib.request import ProxyHandler, build_opener

import aiohttp

from bench.runner import Report, orchestrator_command
from bench.sandbox import BenchError, free_port, process_cpu_seconds, sandbox_process
from bench.specs import write_conference

_OPENER = build_opener(ProxyHandler({}))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conferences", type=int, default=10, help="conference files (10)")
    parser.add_argument("--participants", type=int, default=50, help="in each (50)")
    parser.add_argument("--pages", type=int, default=20, help="pages open in the second run (20)")
    parser.add_argument("--seconds", type=float, default=30.0, help="each run's length (30)")
    parser.add_argument("--interval", type=float, default=1.0, help="the watch's interval (1)")
    parser.add_argument("--seed", type=int, default=5, help="sandbox seed (5)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (3); medians")


def _board_url(log: Path, process: subprocess.Popen[bytes], timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(r"board: (\S+)", log.read_text(errors="replace"))
        if found:
            return found[1]
        if process.poll() is not None:
            raise BenchError(f"apply exited with {process.returncode}: {log.read_text()[-300:]}")
        time.sleep(0.02)
    raise BenchError("apply printed no board URL")


async def _page(url: str) -> dict[str, int]:
    """One page, as a browser holds it: the page, its files, its stream read until it ends
    (the board ends it when the run ends)."""
    base = url.split("?")[0]
    got = {"bytes": 0, "messages": 0, "snapshots": 0}
    jar = aiohttp.CookieJar(unsafe=True)  # a browser keeps a cookie of 127.0.0.1
    files = ("static/page.css", "static/page.js", "static/board.js")
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        for target in (url, *(base + name for name in files)):
            async with http.get(target) as answer:
                got["bytes"] += len(await answer.read())
                if answer.status != 200:
                    raise BenchError(f"the board answered {answer.status} to {target}")
        async with http.get(base + "events") as answer:
            held = b""  # a message may come in pieces (a snapshot is one long line)
            async for chunk in answer.content.iter_any():
                got["bytes"] += len(chunk)
                *whole, held = (held + chunk).split(b"\n\n")
                for message in whole:
                    kind = re.search(rb"^event: (\S+)$", message, re.MULTILINE)
                    if kind is None:
                        continue  # the retry line, a keepalive
                    got["messages"] += 1
                    got["snapshots"] += kind[1] == b"board"
                    name = f"{kind[1].decode()}_bytes"
                    got[name] = got.get(name, 0) + len(message) + 2
    return got


def _pages(url: str, count: int, out: list[dict[str, int]], failed: list[str]) -> None:
    async def main() -> None:
        out.extend(await asyncio.gather(*(_page(url) for _ in range(count))))

    try:
        asyncio.run(main())
    except (BenchError, aiohttp.ClientError, OSError) as error:
        failed.append(f"{type(error).__name__}: {error}")


def _health(url: str) -> dict[str, Any]:
    root = url.split("/board/")[0]
    with _OPENER.open(root + "/healthz", timeout=30) as answer:
        found: dict[str, Any] = json.loads(answer.read())
    return found


def _one_run(args: argparse.Namespace, workdir: Path, pages: int) -> dict[str, Any]:
    scenario = {"seed": args.seed, "dials_per_second": 0, "time_scale": 0.05}
    folder = workdir / f"pages-{pages}"
    folder.mkdir(parents=True)
    files = [
        str(write_conference(folder, f"board-{n}", args.participants, block=n))
        for n in range(args.conferences)
    ]
    with sandbox_process(scenario, folder / "sandbox") as sandbox:
        port = free_port()
        log = folder / "apply.log"
        with log.open("wb") as errors:
            argv = orchestrator_command(
                "apply", *files, "-q", "--watch", "--dials-per-second", "0",
                "--interval", f"{args.interval:g}", "--state-dir", str(folder / "state"),
                "--board", f"127.0.0.1:{port}", "--listen", f"127.0.0.1:{port}",
            )  # fmt: skip
            started = time.monotonic()
            process = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=errors, env=sandbox.client_environment()
            )
        try:
            url = _board_url(log, process)
            received: list[dict[str, int]] = []
            failed: list[str] = []
            viewer = threading.Thread(target=_pages, args=(url, pages, received, failed))
            if pages:
                viewer.start()
            # Reads are compared once every call has settled: from a third of the run on, the
            # rounds find nothing new, and each costs what an idle round costs.
            time.sleep(max(args.seconds / 3 - (time.monotonic() - started), 0.0))
            first = (_health(url)["rounds"], sandbox.health()["requests"]["GET"])
            time.sleep(max(args.seconds - (time.monotonic() - started), 0.0))
            cpu_s = process_cpu_seconds(process.pid) or 0.0
            health = _health(url)
            requests = sandbox.health()["requests"]
            process.send_signal(signal.SIGINT)
            returncode = process.wait(timeout=120)
            if pages:
                viewer.join(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if returncode != 0:
        raise BenchError(f"apply exited with {returncode}: {log.read_text()[-300:]}")
    return {
        "pages": pages,
        "cpu_s": cpu_s,
        "rounds": health["rounds"],
        "requests": requests,
        "idle_rounds": health["rounds"] - first[0],
        "gets_per_idle_round": (requests["GET"] - first[1]) / max(health["rounds"] - first[0], 1),
        "received": received,
        "failed": failed,
    }


def _median(values: list[Any]) -> Any:
    return sorted(values)[len(values) // 2]


def run(args: argparse.Namespace, workdir: Path) -> Report:
    c, n, p = args.conferences, args.participants, args.pages
    report = Report(
        "board",
        f"(10) Board: apply --watch --board of {c} conferences x {n} participants, "
        f"{args.seconds:g} s, with 0, 1 and {p} pages open",
    )
    counts = [0, 1, p] if p > 1 else [0, p]
    runs: dict[int, list[dict[str, Any]]] = {count: [] for count in counts}
    for attempt in range(args.repeat):  # interleaved: a busy moment of the machine hits each
        for count in counts:
            runs[count].append(_one_run(args, workdir / f"run-{attempt}", count))
    report.invalid += _invalid(runs, c)
    cpu = {count: _median([r["cpu_s"] for r in runs[count]]) for count in counts}
    for count in counts:
        _rows_of(report, count, runs[count], cpu[count])
    extra = cpu[p] - cpu[0]
    report.row(
        f"CPU the {p} pages added", f"{extra:.2f} s ({extra / args.seconds * 100:.1f}% of a core)"
    )
    if p > 1:
        each = (cpu[p] - cpu[1]) / (p - 1)
        report.row("... the first page (the board drawn at all)", f"{cpu[1] - cpu[0]:.2f} s")
        report.row("... each page after it", f"{each * 1000:.0f} ms over {args.seconds:g} s")
    _received_rows(report, runs[p][-1]["received"])
    report.raw = {"runs": {str(k): v for k, v in runs.items()}, "cpu_s": cpu, "extra_cpu_s": extra}
    return report


def _invalid(runs: dict[int, list[dict[str, Any]]], conferences: int) -> list[str]:
    """Why the runs with pages are invalid: they read more, or a page got no board."""
    found = []
    idle = max(r["gets_per_idle_round"] for r in runs[0])
    for count, results in runs.items():
        for result in results if count else []:
            # A conference's round reads, then counts itself: at each of the two samples one
            # round per conference may be read and not yet counted.
            slack = 2 * conferences / max(result["idle_rounds"], 1)
            if result["gets_per_idle_round"] > idle + slack:
                found.append(
                    f"{count} pages cost API reads: {result['gets_per_idle_round']:.2f} GETs a "
                    f"conference-round once settled, against {idle:.2f}"
                )
            got = result["received"]
            if len(got) != count or any(page["snapshots"] == 0 for page in got):
                found.append(f"not every page got the board: {result['failed'] or got}")
    return found


def _rows_of(report: Report, count: int, results: list[dict[str, Any]], cpu: float) -> None:
    last = results[-1]
    requests = last["requests"]
    name = f"{count} page{'s' if count != 1 else ''}"
    report.row(
        f"{name}: API requests (GET / POST / DELETE), conference-rounds (last run)",
        f"{requests['GET']} / {requests['POST']} / {requests['DELETE']}, {last['rounds']}",
    )
    report.row(
        f"{name}: GETs per conference-round once settled (each run)",
        ", ".join(f"{r['gets_per_idle_round']:.2f}" for r in results),
    )
    each_run = ", ".join(f"{r['cpu_s']:.2f}" for r in results)
    report.row(
        f"{name}: apply CPU over the run (median of {len(results)})",
        f"{cpu:.2f} s (runs: {each_run})",
    )


def _received_rows(report: Report, got: list[dict[str, int]]) -> None:
    if not got:
        return
    kinds = sorted({key for page in got for key in page if key.endswith("_bytes")})
    report.row(
        "each page received (messages, snapshots, bytes; median)",
        ", ".join(
            str(_median([page.get(key, 0) for page in got]))
            for key in ("messages", "snapshots", "bytes")
        ),
    )
    report.row(
        "... bytes by kind of message",
        ", ".join(f"{key[:-6]} {_median([page.get(key, 0) for page in got])}" for key in kinds),
    )
