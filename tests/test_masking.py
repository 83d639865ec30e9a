"""Numbers and URLs as every output shows them: never whole."""

from __future__ import annotations

import pytest

from orchestrator.masking import mask_destination, shown_url


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
        ("ftp://u:p@files.example.com/", "ftp://u:p@files.example.com/"),  # not a callback URL
        ("not a url", "not a url"),
    ],
)
def test_a_url_keeps_where_it_points_not_who_logs_in_nor_its_query(url: str, shown: str) -> None:
    assert shown_url(url) == shown
    assert "s3cret" not in shown_url(url) and "token=abc" not in shown_url(url)
