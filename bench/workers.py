"""The clients under test, each run in a fresh process: ``python -m bench.workers ours|sdk|floor ...``.

A fresh process per run keeps one client's warm caches, memory and event loop
out of the other's numbers and gives each its own peak RSS. The sandbox to
talk to comes from TELNYX_BASE_URL, TELNYX_API_KEY and TELNYX_ACCOUNT_SID.
The worker prints one JSON object on stdout. Clocks start after imports and
after the files are read: interpreter start is measured separately, by
timing the whole command.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from orchestrator.spec.model import ConferenceSpec


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timings(answered: Sequence[float], started: float, returned: float) -> dict[str, Any]:
    return {
        "dial_responses": len(answered),
        "first_dialed_s": min(answered) - started if answered else None,
        "all_dialed_s": max(answered) - started if answered else None,
        "returned_s": returned - started,
        "peak_rss_mb": peak_rss_mb(),
    }


async def run_ours(
    specs: list[ConferenceSpec],
    *,
    concurrency: int,
    dials_per_second: float,
    dial_window_s: float,
) -> dict[str, Any]:
    """orchestrator's engine as ``apply --no-wait`` runs it, timed to its last dial response.

    The last response is the last "dialed" event of the run model's stream, which is
    published as each dial's answer arrives.
    """
    from orchestrator.engine.apply import apply_with_connection
    from orchestrator.engine.events import CallPlaced, Event
    from orchestrator.engine.options import ApplyOptions
    from orchestrator.engine.run_model import RunModel
    from orchestrator.secret import Secret
    from orchestrator.texml.connection import Connection

    env = os.environ
    connection = Connection(
        env["TELNYX_BASE_URL"], Secret(env["TELNYX_API_KEY"]), env["TELNYX_ACCOUNT_SID"]
    )
    options = ApplyOptions(
        concurrency=concurrency,
        dials_per_second=dials_per_second,
        dial_window_s=dial_window_s,
        wait=False,
    )
    answered: list[float] = []

    def progress(event: Event) -> None:
        if isinstance(event, CallPlaced):
            answered.append(time.perf_counter())

    model = RunModel()
    model.subscribe(progress)
    stop = asyncio.Event()
    cpu = time.process_time()
    started = time.perf_counter()
    results = await apply_with_connection(specs, connection, options, stop, model)
    returned = time.perf_counter()
    return {
        "client": "ours",
        "client_cpu_s": time.process_time() - cpu,
        **_timings(answered, started, returned),
        "exit_codes": [result.exit_code for result in results],
        "client_429s": max((result.rate_limited for result in results), default=0),
        "errors": [
            outcome.error
            for result in results
            for outcome in result.participants
            if outcome.error is not None
        ][:5],
    }


async def run_sdk(document: dict[str, Any], *, concurrency: int) -> dict[str, Any]:
    """What a user would write with the official SDK: gather every dial under a semaphore."""
    import telnyx

    conference = document["conference"]
    account_sid = os.environ["TELNYX_ACCOUNT_SID"]
    semaphore = asyncio.Semaphore(concurrency)
    answered: list[float] = []
    failures: Counter[str] = Counter()

    async def dial(client: telnyx.AsyncTelnyx, person: dict[str, Any]) -> None:
        async with semaphore:
            try:
                # The conference does not exist yet: name it and give the application, every time.
                await client.texml.accounts.conferences.participants.participants(
                    conference["name"],
                    account_sid=account_sid,
                    application_sid=conference["application_sid"],
                    to=person["to"],
                    from_=conference["from"],
                    label=person["name"],
                    max_participants=conference["max_participants"],
                )
            except telnyx.APIStatusError as error:
                failures[str(error.status_code)] += 1
                return
            except telnyx.APIConnectionError as error:
                failures[type(error).__name__] += 1
                return
            answered.append(time.perf_counter())

    # The SDK imports its resource modules on first attribute access (about half a second):
    # do that before the clock, as orchestrator's imports are done before its clock starts.
    async with telnyx.AsyncTelnyx(api_key="unused", base_url="http://127.0.0.1:9/v2") as warm:
        _ = warm.texml.accounts.conferences.participants

    cpu = time.process_time()
    started = time.perf_counter()
    async with telnyx.AsyncTelnyx(
        api_key=os.environ["TELNYX_API_KEY"], base_url=os.environ["TELNYX_BASE_URL"]
    ) as client:
        await asyncio.gather(*(dial(client, person) for person in document["participants"]))
    returned = time.perf_counter()
    return {
        "client": "sdk",
        "client_cpu_s": time.process_time() - cpu,
        **_timings(answered, started, returned),
        "failures": dict(failures),
    }


async def run_floor(document: dict[str, Any], *, concurrency: int) -> dict[str, Any]:
    """The least any client must do: one bare aiohttp POST per participant, C at a time.

    No pacing, no retries, no bookkeeping: what is left is the HTTP stack and the
    sandbox on this machine, the practical floor beneath the ideal.
    """
    import aiohttp

    conference = document["conference"]
    env = os.environ
    url = (
        f"{env['TELNYX_BASE_URL']}/texml/Accounts/{env['TELNYX_ACCOUNT_SID']}"
        f"/Conferences/{conference['name']}/Participants"
    )
    semaphore = asyncio.Semaphore(concurrency)
    answered: list[float] = []
    failures: Counter[str] = Counter()

    async def dial(session: aiohttp.ClientSession, person: dict[str, Any]) -> None:
        body = {
            "To": person["to"],
            "From": conference["from"],
            "Label": person["name"],
            "ApplicationSid": conference["application_sid"],
            "MaxParticipants": conference["max_participants"],
        }
        async with semaphore, session.post(url, json=body) as response:
            await response.read()
            if response.status != 200:
                failures[str(response.status)] += 1
                return
        answered.append(time.perf_counter())

    cpu = time.process_time()
    started = time.perf_counter()
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        headers={"Authorization": f"Bearer {env['TELNYX_API_KEY']}"},
    ) as session:
        await asyncio.gather(*(dial(session, person) for person in document["participants"]))
    returned = time.perf_counter()
    return {
        "client": "floor",
        "client_cpu_s": time.process_time() - cpu,
        **_timings(answered, started, returned),
        "failures": dict(failures),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.workers")
    sub = parser.add_subparsers(dest="client", required=True)
    ours = sub.add_parser("ours", help="orchestrator's engine, in this process")
    ours.add_argument("files", nargs="+")
    ours.add_argument("--dials-per-second", type=float, default=0.0)
    ours.add_argument("--dial-window", type=float, default=5.0)
    sdk = sub.add_parser("sdk", help="the official telnyx SDK, asyncio.gather and a semaphore")
    sdk.add_argument("file")
    floor = sub.add_parser("floor", help="bare aiohttp POSTs under a semaphore: the floor")
    floor.add_argument("file")
    for command in (ours, sdk, floor):
        command.add_argument("--concurrency", type=int, default=50)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.client == "ours":
        from orchestrator.spec import load_spec

        specs = [load_spec(path, env=os.environ, strict_env=True) for path in args.files]
        gc.freeze()  # as `orchestrator apply` does once its files are read
        result = asyncio.run(
            run_ours(
                specs,
                concurrency=args.concurrency,
                dials_per_second=args.dials_per_second,
                dial_window_s=args.dial_window,
            )
        )
    else:
        document = yaml.safe_load(Path(args.file).read_text(encoding="utf-8"))
        run = run_sdk if args.client == "sdk" else run_floor
        result = asyncio.run(run(document, concurrency=args.concurrency))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
