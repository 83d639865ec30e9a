"""Numbers and URLs as every output shows them, never whole; received text printed safely."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.errors import ConfigError
from orchestrator.masking import mask_destination, printable, shown_url
from orchestrator.secret import Secret
from orchestrator.texml.connection import Connection, check_base_url


@pytest.mark.parametrize(
    ("destination", "shown"),
    [
        ("+12065550100", "+1206\u2022\u2022\u20220100"),
        ("+442079460958", "+4420\u2022\u2022\u20220958"),
        ("2065550100", "2065\u2022\u2022\u20220100"),
        ("sip:carol@pbx.example.com", "sip:c\u2022\u2022\u2022@pbx.example.com"),
        ("sips:desk@pbx.example.com", "sips:d\u2022\u2022\u2022@pbx.example.com"),
        ("sip:pbx.example.com", "sip:pbx.example.com"),  # no user to hide
        ("911", "911"),  # too short to hide anything and still be recognisable
    ],
)
def test_a_destination_keeps_its_head_and_last_four_digits(destination: str, shown: str) -> None:
    assert mask_destination(destination) == shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/telnyx", "https://hooks.example.com/telnyx"),
        ("https://ci:s3cret@hooks.example.com/t", "https://***@hooks.example.com/t"),
        ("https://hooks.example.com/t?token=abc", "https://hooks.example.com/t?***"),
        ("https://u:p@hooks.example.com/t?token=abc#x", "https://***@hooks.example.com/t?***"),
        ("HTTPS://ci:s3cret@Hooks.example.com/t", "https://***@hooks.example.com/t"),
        ("http://[::1]:8080/t?token=abc", "http://[::1]:8080/t?***"),
        ("https://hooks.example.com/t#token=abc", "https://hooks.example.com/t?***"),
        ("ftp://u:s3cret@files.example.com/", "ftp://***@files.example.com/"),
        # What the HTTP client cannot read is hidden whole, not printed as it is.
        ("https://ci:s3c#ret@hooks.example.com/t", "https://***"),
        ("https://ci:s3c[ret@hooks.example.com/t", "https://***"),
        ("https://hooks.example.com:token=abc/t", "https://***"),
        ("example.com/hold.mp3", "example.com/hold.mp3"),  # no scheme, nothing to hide
        ("not a url", "not a url"),
        ("ci:s3cret@hooks.example.com", "***"),
        ("https:///token=abc", "https://***"),
    ],
)
def test_a_url_keeps_where_it_points_not_who_logs_in_nor_its_query(url: str, shown: str) -> None:
    assert shown_url(url) == shown
    assert "s3cret" not in shown_url(url) and "token=abc" not in shown_url(url)


RESERVED = [*":/?#[]@!$&'()*+,;=% ", "\u00e9", "\u2603", "\u202e", "\t", "\n"]
# A secret is HEAD + something + TAIL: neither half may show, in any case.
HEAD, TAIL = "Qv7", "Kz4"


def placed(where: str, secret: str) -> str:
    return {
        "user": f"https://{secret}:pw@hooks.example.com/t",
        "password": f"https://ci:{secret}@hooks.example.com/t",
        "both": f"https://{secret}:{secret}@hooks.example.com/t",
        "query": f"https://hooks.example.com/t?token={secret}&x=1",
        "fragment": f"https://hooks.example.com/t#{secret}",
    }[where]


def assert_hidden(url: str) -> None:
    shown = shown_url(url)
    assert HEAD.lower() not in shown.lower() and TAIL.lower() not in shown.lower(), (url, shown)
    # What is shown is where it points, or nothing at all.
    assert shown == "https://***" or shown.startswith(
        ("https://***@hooks.example.com/t", "https://hooks.example.com/t?***")
    ), (url, shown)


@pytest.mark.parametrize("where", ["user", "password", "both", "query", "fragment"])
@pytest.mark.parametrize("char", RESERVED)
def test_a_secret_holding_any_reserved_character_is_never_shown(where: str, char: str) -> None:
    for secret in (f"{HEAD}{char}{TAIL}", f"{HEAD}{char}{char}{TAIL}{char}"):
        assert_hidden(placed(where, secret))
        assert_hidden(placed(where, quote(secret, safe="")))  # percent-encoded as it should be


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["user", "password", "both", "query", "fragment"]),
    st.text(alphabet=st.sampled_from([*RESERVED, "a", "Z", "0", "-", "."]), max_size=12),
)
def test_no_secret_ever_shows(where: str, middle: str) -> None:
    assert_hidden(placed(where, f"{HEAD}{middle}{TAIL}"))


def test_received_text_is_printed_on_one_line_and_drives_no_terminal() -> None:
    assert printable("v3:abc-\u00e9 \u2603") == "v3:abc-\u00e9 \u2603"  # nothing to escape
    assert printable("a\nb\r\tc\\d") == "a\\nb\\r\\tc\\\\d"
    assert printable("\x1b[31mred\x9b0m\x7f") == "\\x1b[31mred\\x9b0m\\x7f"
    assert printable("\u202egnp.exe\u2028x\u200b") == "\\u202egnp.exe\\u2028x\\u200b"
    assert printable("x" * 100, limit=10) == "x" * 9 + "\u2026"
    every = printable("".join(chr(c) for c in range(0x3000)))
    assert not [c for c in every if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


@pytest.mark.parametrize(
    "base_url",
    [
        f"http://ci:{HEAD}{TAIL}@api.example.com/v2",  # refused: plain http
        f"https://ci:{HEAD}#{TAIL}@api.example.com/v2",  # refused: no host the client can read
        f"ftp://api.example.com/v2?token={HEAD}{TAIL}",  # refused: not http
    ],
)
def test_a_base_url_refused_is_named_without_its_secrets(base_url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_base_url(base_url)
    assert HEAD not in str(refused.value) and TAIL not in str(refused.value)
    connection = Connection(base_url, Secret("KEY"), "acct")
    assert HEAD not in repr(connection) and "KEY" not in repr(connection)
