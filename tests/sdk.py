"""The official telnyx SDK, for the tests that check the sandbox and our signatures against it.

Imported when a test first uses it, not when test modules are collected: importing the
SDK builds thousands of models (a second and a half of CPU), which every pytest worker
would otherwise pay whether it runs one of these tests or not. The tests that use it are
marked ``uses_sdk``: one group that xdist's loadgroup hands to a single worker.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

# The tests that use the SDK run on one worker, the only one that pays for importing it; and
# as that takes seconds, they are long (left out of the quick loop).
USES_SDK = [pytest.mark.xdist_group("official-sdk"), pytest.mark.long]


def uses_sdk(test: T) -> T:
    """Marks a test as one that uses the SDK (``USES_SDK``)."""
    for mark in USES_SDK:
        test = mark(test)
    return test


class _Module:
    """Stands for the ``telnyx`` package: an attribute is looked up in it, importing it then."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "pytestmark":  # collection looking, not a test using it
            raise AttributeError(name)
        return getattr(importlib.import_module("telnyx"), name)


telnyx: Any = _Module()


def _verification() -> ModuleType:
    return importlib.import_module("telnyx.lib.webhook_verification")


def verify_webhook_signature(
    payload: str | bytes, headers: Mapping[str, str], public_key: str
) -> None:
    """The SDK's own check of a webhook's Ed25519 signature; raises if it does not hold."""
    _verification().verify_webhook_signature(payload, headers, public_key)


def webhook_verification_error() -> type[Exception]:
    """What the SDK raises for a signature that does not hold."""
    error: type[Exception] = _verification().WebhookVerificationError
    return error
