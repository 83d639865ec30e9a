"""Where and as whom to talk to the API: resolved from options, the file and the environment.

The environment variables are the official SDK's own (TELNYX_API_KEY,
TELNYX_BASE_URL) plus TELNYX_ACCOUNT_SID, so one shell setup serves both.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from yarl import URL

from orchestrator.errors import ConfigError
from orchestrator.masking import shown_url
from orchestrator.reading import Unreadable, read_text_bounded
from orchestrator.secret import Secret
from orchestrator.texml.contract import DEFAULT_BASE_URL

# A key is a line of text; a file far larger is not one (or not meant for this).
MAX_KEY_FILE_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class Connection:
    base_url: str  # e.g. https://api.telnyx.com/v2, no trailing slash
    api_key: Secret
    account_sid: str

    def __repr__(self) -> str:
        return (
            f"Connection(base_url={shown_url(self.base_url)!r}, api_key=***, "
            f"account_sid={self.account_sid!r})"
        )


def is_loopback(host: str) -> bool:
    """localhost or a loopback address (IPv4 or IPv6, bracketed or not); names are not resolved."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    """The base URL without a trailing slash; https is required unless the host is loopback."""
    shown = shown_url(base_url)  # never its credentials or query, even in an error
    try:
        url = URL(base_url)
    except ValueError:
        raise ConfigError(f"base URL {shown!r} is not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"base URL {shown!r} must look like https://api.telnyx.com/v2")
    if url.scheme != "https" and not is_loopback(url.host):
        raise ConfigError(
            f"base URL {shown!r} must use https (plain http is allowed only on loopback, e.g. the sandbox)"
        )
    return str(url).rstrip("/")


def read_api_key(env: Mapping[str, str], api_key_file: str | Path | None) -> Secret:
    if api_key_file is not None:
        path = Path(api_key_file)
        try:
            key = read_text_bounded(path, MAX_KEY_FILE_BYTES).strip()
        except Unreadable as error:
            raise ConfigError(f"cannot read the API key file {path}: {error.reason}") from None
        if not key:
            raise ConfigError(f"the API key file {path} is empty")
        return Secret(key)
    key = env.get("TELNYX_API_KEY", "").strip()
    if not key:
        raise ConfigError(
            "no API key: set TELNYX_API_KEY (or pass --api-key-file) for the real API, "
            "or add --sandbox to run against the built-in simulation"
        )
    return Secret(key)


def resolve_connection(
    *,
    env: Mapping[str, str],
    api_key_file: str | Path | None = None,
    base_url: str | None = None,
    account_sid: str | None = None,
) -> Connection:
    """Options win over the file, the file over the environment."""
    key = read_api_key(env, api_key_file)
    url = check_base_url(base_url or env.get("TELNYX_BASE_URL") or DEFAULT_BASE_URL)
    sid = account_sid or env.get("TELNYX_ACCOUNT_SID", "").strip()
    if not sid:
        raise ConfigError(
            "no account SID: set TELNYX_ACCOUNT_SID or account_sid in the conference file "
            "(it is your organization id, shown by GET /v2/whoami)"
        )
    return Connection(base_url=url, api_key=key, account_sid=sid)
