"""Running the sandbox: in the current event loop, or in a thread for synchronous callers.

Each run signs its callbacks with an Ed25519 key: one made for the run, or the
one given (``SigningKey.load_or_create`` keeps one in a file across runs).
``SandboxInfo.public_key`` is what verifies them, as TELNYX_PUBLIC_KEY holds
a real account's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from orchestrator.clock import REAL_CLOCK, Clock
from orchestrator.errors import ConfigError
from orchestrator.sandbox.app import SIMULATION, create_app
from orchestrator.sandbox.resources import API_PREFIX
from orchestrator.sandbox.scenario import Scenario
from orchestrator.serving import serving
from orchestrator.webhooks.signing import SigningKey

THREAD_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SandboxInfo:
    base_url: str  # e.g. "http://127.0.0.1:43211/v2": what TELNYX_BASE_URL should be
    api_key: str = field(repr=False)  # kept out of logs and test failure output
    account_sid: str
    public_key: str  # base64 Ed25519: verifies the callbacks' signatures (TELNYX_PUBLIC_KEY)


def generate_api_key() -> str:
    return "KEY" + secrets.token_hex(16).upper()


def generate_account_sid() -> str:
    return str(uuid.uuid4())


def _url_host(host: str) -> str:
    bare = host.strip("[]")
    try:
        if ipaddress.ip_address(bare).version == 6:
            return f"[{bare}]"
    except ValueError:
        pass
    return host


@contextlib.asynccontextmanager
async def running_sandbox(
    scenario: Scenario | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    account_sid: str | None = None,
    allow_remote_callbacks: bool = False,
    access_log: bool = False,
    signing_key: SigningKey | None = None,
    clock: Clock = REAL_CLOCK,
) -> AsyncIterator[SandboxInfo]:
    """Serve the sandbox from the running event loop until the block exits.

    ``port=0`` picks a free port; ``access_log`` logs every API request at INFO;
    ``signing_key`` signs the callbacks (default: a new key for this run); ``clock`` is the
    time the simulation runs on (real time; a test may step one by hand).
    On exit every simulated timer is cancelled and webhook deliveries stop.
    Raises ConfigError when the address cannot be used.
    """
    if host.lower() == "localhost":
        # One address, so an ephemeral port means one port (localhost may also be ::1).
        host = "127.0.0.1"
    key = api_key or generate_api_key()
    account = account_sid or generate_account_sid()
    signer = signing_key or SigningKey.generate()
    app = create_app(
        scenario or Scenario(),
        api_key=key,
        account_sid=account,
        signing_key=signer,
        allow_remote_callbacks=allow_remote_callbacks,
        access_log=access_log,
        clock=clock,
    )
    hint = " (pick another --port, or 0 for any free port)" if port else ""
    async with serving(app, host, port, hint=hint) as bound_port:
        info = SandboxInfo(
            base_url=f"http://{_url_host(host)}:{bound_port}{API_PREFIX}",
            api_key=key,
            account_sid=account,
            public_key=signer.public_key,
        )
        app[SIMULATION].account.public_base = info.base_url
        yield info


@contextlib.contextmanager
def sandbox_in_thread(scenario: Scenario | None = None, **kwargs: Any) -> Iterator[SandboxInfo]:
    """The sandbox served by a background thread with its own event loop.

    For synchronous callers (the sync SDK, CLI tests); takes running_sandbox's
    keyword arguments. The thread stops, cleanly, when the block exits.
    """
    ready = threading.Event()
    started: list[SandboxInfo] = []
    failed: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with running_sandbox(scenario, **kwargs) as info:
                started.append(info)
                ready.set()
                await stop.wait()
        except BaseException as error:  # handed to the caller's thread
            failed.append(error)
            ready.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name="orchestrator-sandbox", daemon=True)
    thread.start()
    if not ready.wait(THREAD_START_TIMEOUT_S):
        raise ConfigError("the sandbox did not start within 30 s")
    if failed:
        thread.join()
        raise failed[0]
    try:
        yield started[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
