"""GitHub Actions workflow commands: what the runner would misread is escaped."""

from __future__ import annotations

from orchestrator.report.github import annotation, escape_data, escape_property
from orchestrator.spec.model import Location


def test_an_annotation_names_severity_file_line_and_column() -> None:
    assert annotation("error", Location("conf/a.yaml", 9, 14), "timeout: 3 is too low") == (
        "::error file=conf/a.yaml,line=9,col=14::timeout: 3 is too low"
    )


def test_the_message_escapes_percent_and_line_breaks_only() -> None:
    assert escape_data("100% done\r\nnext: a, b") == "100%25 done%0D%0Anext: a, b"
    assert annotation("notice", Location("a.yaml", 1, 1), "two\nlines") == (
        "::notice file=a.yaml,line=1,col=1::two%0Alines"
    )


def test_the_file_escapes_what_would_end_a_property_too() -> None:
    assert escape_property("team,a:b%.yaml") == "team%2Ca%3Ab%25.yaml"
    assert annotation("warning", Location("x,y:z.yaml", 2, 3), "m") == (
        "::warning file=x%2Cy%3Az.yaml,line=2,col=3::m"
    )


def test_percent_is_escaped_first_so_escapes_are_not_escaped_twice() -> None:
    assert escape_data("%0A") == "%250A"
    assert escape_property(":%") == "%3A%25"
