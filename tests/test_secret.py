"""A secret prints as *** however it is printed."""

from __future__ import annotations

import logging

import pytest

from orchestrator.secret import Secret

KEY = "KEY0123456789ABCDEF"


def test_every_way_of_printing_it_hides_the_value(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(KEY)
    shown = [str(secret), repr(secret), f"{secret}", format(secret), f"{secret!r}"]
    shown.append(str(ValueError("refused", secret)))
    shown.append(repr({"api_key": secret}))
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("orchestrator.test").debug("key %s", secret)
    shown.append(caplog.text)
    assert all(KEY not in text for text in shown)
    assert secret.reveal() == KEY


def test_secrets_compare_by_value() -> None:
    assert Secret(KEY) == Secret(KEY)
    assert Secret(KEY) != Secret("other")
    assert Secret(KEY) != KEY  # never equal to the bare string, so it cannot stand in for it
    assert len({Secret(KEY), Secret(KEY)}) == 1
