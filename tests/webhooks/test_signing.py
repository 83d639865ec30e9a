"""Webhook signatures as Telnyx makes them: ours verify with the official SDK and the SDK's
would verify with ours; what is stale, tampered or another key's is rejected; the key file is
the owner's only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from orchestrator.webhooks.signing import (
    TOLERANCE_S,
    SeenSignatures,
    SignatureRejected,
    SigningKey,
    public_key_from,
    signed_payload,
    verify,
)
from tests.sdk import uses_sdk, verify_webhook_signature

BODY = b"CallSid=v3%3Aabc&CallStatus=completed"


@uses_sdk
def test_a_signature_verifies_here_and_with_the_official_sdk() -> None:
    key = SigningKey.generate()
    headers = key.headers(BODY)
    verify(BODY, headers, public_key_from(key.public_key))
    verify_webhook_signature(BODY.decode(), headers, key.public_key)


@pytest.mark.parametrize(
    ("payload", "signer", "age_s", "message"),
    [
        (BODY + b"&x=1", "same", 0, "does not match"),
        (BODY, "other", 0, "does not match"),
        (BODY, "same", 301, "stale: signed 301s ago"),
        (BODY, "same", -301, "stale"),
    ],
)
def test_tampered_foreign_or_stale_is_rejected(
    payload: bytes, signer: str, age_s: float, message: str
) -> None:
    key = SigningKey.generate()
    by = key if signer == "same" else SigningKey.generate()
    headers = by.headers(BODY, now=1_000_000.0)
    with pytest.raises(SignatureRejected, match=message):
        verify(payload, headers, public_key_from(key.public_key), now=1_000_000.0 + age_s)


def test_missing_or_garbled_headers_are_rejected() -> None:
    public = public_key_from(SigningKey.generate().public_key)
    with pytest.raises(SignatureRejected, match="no telnyx-signature-ed25519"):
        verify(BODY, {}, public)
    with pytest.raises(SignatureRejected, match="not a Unix time"):
        verify(BODY, {"telnyx-timestamp": "soon", "telnyx-signature-ed25519": "x"}, public)


def test_a_get_is_signed_over_its_raw_query_string() -> None:
    assert signed_payload("GET", b"", "a=b%2Fc") == b"a=b%2Fc"
    assert signed_payload("POST", BODY, "a=b") == BODY


def test_the_key_file_is_made_owner_only_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    made = SigningKey.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert SigningKey.load_or_create(path).public_key == made.public_key


def test_a_file_that_is_not_a_key_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(ConfigError, match="not an Ed25519 private key in PEM"):
        SigningKey.load_or_create(path)


def test_a_public_key_that_is_not_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="TELNYX_PUBLIC_KEY is not a base64 Ed25519"):
        public_key_from("bm90IGEga2V5")


def test_a_replay_is_known_while_its_signature_could_verify_and_memory_stays_bounded() -> None:
    key = SigningKey.generate()
    now = 1_800_000_000.0
    seen = SeenSignatures(limit=3)
    first = key.headers(BODY, now=now)
    assert seen.first(first, now=now)
    assert not seen.first(first, now=now + 1)  # the same signature and timestamp: a replay
    assert seen.first(key.headers(BODY, now=now + 1), now=now + 1)  # signed anew: not one
    # Past the tolerance the signature is refused as stale anyway: no need to remember it.
    assert len(seen) == 2
    seen.first(key.headers(b"other", now=now + TOLERANCE_S + 2), now=now + TOLERANCE_S + 2)
    assert len(seen) == 1
    for n in range(10):  # however many arrive, no more than the limit is kept
        assert seen.first(key.headers(BODY + str(n).encode(), now=now + 400), now=now + 400)
    assert len(seen) == 3
