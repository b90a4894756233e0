"""Screen text made fit for the detectors: the engine's confusions undone, identifiers
it spoilt still found (privacy.screen_text)."""

from __future__ import annotations

import pytest

from privacy.screen_text import corrected, find_misread_identifiers


def found(text: str) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.category) for s in find_misread_identifiers(text)]


def test_corrections_keep_every_position_and_fix_addresses_and_digits() -> None:
    read = "mail rhajfy,quill22@example,org card 4O86 5l82 ok, fine"
    fixed = corrected(read)
    assert len(fixed) == len(read)
    assert "rhajfy.quill22@example.org" in fixed
    assert "4086 5182" in fixed
    assert fixed.endswith("ok, fine")  # a comma outside an address stays


def test_an_ssn_with_a_digit_too_many_is_found() -> None:
    assert ("370-117-5179", "ssn") in found("SSN 370-117-5179 filed")
    assert ("370-117-5179", "ssn") in found("no label: 370-117-5179")


def test_groups_of_four_are_found_whatever_a_glyph_became() -> None:
    got = found("to IBAN DES? 5033 1647 3081 7799 73 today")
    assert ("DES? 5033 1647 3081 7799 73", "iban") in got
    assert found("card 4111 1111 1111 1111") != []


@pytest.mark.parametrize(
    ("text", "value", "category"),
    [
        ("MRN: 8131O390 seen today", "8131O390", "medical_record"),
        ("date of birth 1989-O1-22", "1989-O1-22", "date_of_birth"),
        ("passport no X1234567 expired", "X1234567", "passport"),
    ],
)
def test_a_labelled_value_is_found_even_misread(text: str, value: str, category: str) -> None:
    assert (value, category) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "the build took 2026-12-07 12:30 on version 1.2.3",
        "please review the quarterly report before lunch",
        "meeting moved to three, room four",
        "total 48 drwxr-xr-x 2 root root 4096 Dec 7",
    ],
)
def test_ordinary_lines_are_left_alone(text: str) -> None:
    assert found(text) == []
