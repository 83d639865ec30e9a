"""The least a server can do for a dial: ``python -m bench.bare_server --latency-ms 50``.

One aiohttp route on the participants path that reads the body, waits the
latency and answers a fixed participant. Driven by the floor client (bare
aiohttp POSTs), it shows what the HTTP stack and this machine cost when
neither side does any work: how far below the latency-only ideal any client
and any Python server of the API must stay here. It prints an ``export
TELNYX_BASE_URL=...`` line, as the sandbox does, and serves until SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import uuid

from aiohttp import web

from orchestrator.texml import contract

_ANSWER = json.dumps(
    {
        "account_sid": str(uuid.UUID(int=0)),
        "call_sid": "v3:" + "0" * 22,
        "conference_sid": str(uuid.UUID(int=1)),
        "status": "queued",
        "label": "",
        "muted": False,
        "hold": False,
        "coaching": False,
    }
).encode()


def _app(latency_s: float) -> web.Application:
    async def dial(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(latency_s)
        return web.Response(body=_ANSWER, content_type=contract.JSON_MEDIA_TYPE)

    app = web.Application()
    app.router.add_post("/v2" + contract.PARTICIPANTS_PATH, dial)
    return app


async def _serve(latency_s: float) -> None:
    runner = web.AppRunner(_app(latency_s), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    sys.stdout.write(f"export TELNYX_BASE_URL=http://127.0.0.1:{port}/v2\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_server")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.latency_ms / 1000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
