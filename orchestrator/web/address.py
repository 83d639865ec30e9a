"""An address to serve on, as ``--listen`` and ``--board`` are given one: ``[HOST:]PORT``.

Light on purpose (no aiohttp): the command line checks addresses before anything starts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class Address:
    host: str
    port: int  # 0: any free port

    @property
    def url_host(self) -> str:
        """The host as a URL spells it: an IPv6 address in brackets."""
        try:
            if ipaddress.ip_address(self.host).version == 6:
                return f"[{self.host}]"
        except ValueError:
            pass
        return self.host

    def __str__(self) -> str:
        return f"{self.url_host}:{self.port}"


def parse_address(text: str) -> Address | None:
    """``[HOST:]PORT`` (``[::1]:9100`` for IPv6; ``localhost`` is 127.0.0.1, one address, so
    that two options naming it are one server); None when it is not one."""
    host, _, port_text = text.strip().rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    if host.lower() == "localhost":
        host = DEFAULT_HOST
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        return None
    return Address(host, int(port_text))
