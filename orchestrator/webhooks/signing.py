"""Telnyx's webhook signatures: Ed25519 over ``"{timestamp}|{payload}"``.

Every callback carries ``telnyx-timestamp`` (Unix seconds) and
``telnyx-signature-ed25519`` (base64 of the 64-byte signature), checked
against the account's base64 public key, with five minutes' tolerance, as the
official SDK's ``verify_webhook_signature`` does. The payload is the raw body
of a POST; a GET callback has none, so its raw query string is what is signed
(the sandbox signs it so; Telnyx documents nothing for GET).

``cryptography`` is imported only here, and this module only where a signature
is made or checked.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.reading import Unreadable, read_bounded

SIGNATURE_HEADER: Final = "telnyx-signature-ed25519"
TIMESTAMP_HEADER: Final = "telnyx-timestamp"
TOLERANCE_S: Final = 300
PUBLIC_KEY_ENV: Final = "TELNYX_PUBLIC_KEY"  # the variable the official SDK reads
MAX_KEY_FILE_BYTES: Final = 64 * 1024  # a PEM key is a few hundred bytes


class SignatureRejected(OrchestratorError):
    """A callback whose signature is missing, malformed, stale or wrong."""


def raw_query(request: web.Request) -> str:
    """The query string exactly as it came (percent-encoded): aiohttp's decodes it."""
    return request.raw_path.partition("?")[2]


def signed_payload(method: str, body: bytes, query_string: str) -> bytes:
    """What a callback's signature covers: its body, or for a GET its raw query string."""
    return query_string.encode("utf-8") if method.upper() == "GET" else body


class SigningKey:
    """The sandbox's Ed25519 key pair (a real account's private key never leaves Telnyx)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: str | Path) -> SigningKey:
        """The key in ``path`` (PEM, PKCS#8), written there first if the file does not exist."""
        file = Path(path)
        if not file.exists():
            key = cls.generate()
            try:
                # Created owner-only and exclusively: never readable by others, even briefly,
                # and never over a key another process wrote a moment ago.
                descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as out:
                    out.write(key.pem())
            except FileExistsError:
                pass  # written by another process meanwhile (or a dangling link): read it
            except OSError as error:
                raise ConfigError(
                    f"cannot write the signing key {file}: {error.strerror}"
                ) from None
            else:
                return key
        try:
            loaded = serialization.load_pem_private_key(
                read_bounded(file, MAX_KEY_FILE_BYTES), password=None
            )
        except Unreadable as error:
            raise ConfigError(f"cannot read the signing key {file}: {error.reason}") from None
        except (ValueError, TypeError):
            raise ConfigError(
                f"{file} is not an Ed25519 private key in PEM; delete it to have a new one made"
            ) from None
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ConfigError(f"{file} holds a key that is not Ed25519")
        return cls(loaded)

    def pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_key(self) -> str:
        """Base64 of the raw 32-byte public key: what TELNYX_PUBLIC_KEY holds."""
        raw = self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode("ascii")

    def headers(self, payload: bytes, *, now: float | None = None) -> dict[str, str]:
        """The two headers that sign ``payload`` at ``now``."""
        timestamp = str(int(time.time() if now is None else now))
        signature = self._private.sign(timestamp.encode("ascii") + b"|" + payload)
        return {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
        }


def public_key_from(text: str) -> Ed25519PublicKey:
    """A base64 public key (as TELNYX_PUBLIC_KEY holds it); ConfigError if it is not one."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise ConfigError(
            f"{PUBLIC_KEY_ENV} is not a base64 Ed25519 public key (32 bytes); copy it from the "
            "sandbox's export line or the Mission Control portal"
        ) from None


def verify(
    payload: bytes,
    headers: Mapping[str, str],
    public_key: Ed25519PublicKey,
    *,
    now: float | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> None:
    """Raise SignatureRejected unless the headers sign ``payload`` within the tolerance."""
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp = lower.get(TIMESTAMP_HEADER)
    signature = lower.get(SIGNATURE_HEADER)
    if not timestamp or not signature:
        raise SignatureRejected(f"no {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} headers")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureRejected(
            f"{TIMESTAMP_HEADER} is not a Unix time: {timestamp[:20]!r}"
        ) from None
    age = (time.time() if now is None else now) - sent
    if abs(age) > tolerance_s:
        raise SignatureRejected(f"stale: signed {age:.0f}s ago, more than {tolerance_s:g}s")
    try:
        raw = base64.b64decode(signature, validate=True)
    except binascii.Error:
        raise SignatureRejected(f"{SIGNATURE_HEADER} is not base64") from None
    try:
        public_key.verify(raw, timestamp.encode("ascii") + b"|" + payload)
    except InvalidSignature:
        raise SignatureRejected("the signature does not match the payload and the key") from None


def rejection(
    request: web.Request, body: bytes, public_key: Ed25519PublicKey | None
) -> SignatureRejected | None:
    """Why a received callback's signature does not hold; None when it does, or when there is
    no key to check it with."""
    if public_key is None:
        return None
    try:
        verify(
            signed_payload(request.method, body, raw_query(request)), request.headers, public_key
        )
    except SignatureRejected as error:
        return error
    return None


class SeenSignatures:
    """The signatures of callbacks already taken, to tell a replay from a new callback.

    A signed callback can be sent again as it is for as long as its timestamp is within the
    tolerance; each is remembered that long and no longer, and at most ``limit`` at once (past
    that, the one closest to expiring is forgotten first).
    """

    def __init__(self, *, tolerance_s: float = TOLERANCE_S, limit: int = 20_000) -> None:
        self._tolerance_s = tolerance_s
        self._limit = limit
        self._seen: set[tuple[str, str]] = set()
        self._expiry: list[tuple[float, tuple[str, str]]] = []  # a heap, soonest first

    def __len__(self) -> int:
        return len(self._seen)

    def first(self, headers: Mapping[str, str], *, now: float | None = None) -> bool:
        """Whether the callback with these (verified) headers is seen for the first time; it is
        remembered from now on."""
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        key = (timestamp, headers.get(SIGNATURE_HEADER, ""))
        moment = time.time() if now is None else now
        while self._expiry and self._expiry[0][0] < moment:
            self._seen.discard(heapq.heappop(self._expiry)[1])
        if key in self._seen:
            return False
        try:
            expires = int(timestamp) + self._tolerance_s
        except ValueError:
            expires = moment + self._tolerance_s
        if len(self._seen) >= self._limit:
            self._seen.discard(heapq.heappop(self._expiry)[1])
        self._seen.add(key)
        heapq.heappush(self._expiry, (expires, key))
        return True


def refusal(rejected: SignatureRejected) -> web.Response:
    """The 401 a callback with a bad signature gets, saying why."""
    return web.json_response({"error": f"signature rejected: {rejected}"}, status=401)
