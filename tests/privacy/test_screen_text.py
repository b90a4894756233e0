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


def test_an_order_number_is_not_an_ssn_two_digits_off() -> None:
    assert found("order 175-279-306 shipped") == []  # 3-3-3: two groups off 3-2-4
    assert ("370-11-517", "ssn") in found("SSN 370-11-517")  # one digit dropped


def test_a_label_takes_no_word_for_its_value() -> None:
    assert found("SELECT dob, mrn FROM patients WHERE clinic_id = ?") == []
    assert ("TES8 5033", "iban") in found("IBAN TES8 5033")  # DE38 misread: still a value


def screen_findings(text: str) -> list[tuple[str, str]]:
    from privacy.screen_scrub import _findings

    return [(text[s.start : s.end], s.category) for s in _findings(text, None)]


@pytest.mark.parametrize(
    "read",
    [
        # Public random shapes as Tesseract read them here (fake keys and digests).
        "my age key is ageltf02w7yjmss8xle4geu94j cap248uus9vLzpeOxp95prma76hkcafy8f20",
        "sha256sum: edcObee31e8c217308a fc8eebedc2e2ca23f bafe6e4322c247 12a2a3Ff12f6ddb",
        "icon = base64.b64decode(' iVBORWOKGgqNfORaoXoWdABY OJHFTXwLOgA28n6ow92WUBqUGCHUiWCo' )",
        'integrity="sha384-cyTVWEiLowomQ7pk/6FYdwx1l2sdZKRpA1kevuNN4wxRmoq0Oji4GCEVCowx0r3iBR"',
        "ssh-ed25519 AAAAC3NzaC11LZDI1NTESAAAAICegMH3//9ntcUKHtCIF",
    ],
)
def test_public_shapes_the_engine_spoilt_are_not_masked(read: str) -> None:
    assert screen_findings(read) == []


def test_a_secret_beside_a_public_shape_is_still_masked() -> None:
    line = "sha256: edcObee31e8c217308a token=ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    assert [c for _, c in screen_findings(line)] == ["github_token"]
    # A random string on its own is still judged random: nothing public about it.
    assert screen_findings("kX9vQ2mZ7pL4wR8tY1uB6nE3cH5jG0aD")[0][1] == "high_entropy"


@pytest.mark.parametrize(
    ("read", "address"),
    [
        # 7 read as ? (a monospace font): no address at all as read.
        ("please contact airgpy.quill4?@example.org about", "airgpy.quill4?@example.org"),
        # ! or | read for l, $ for s: as read, only the part after the glyph.
        ("mail jane.do!e@example.org", "jane.do!e@example.org"),
        ("mail j|m.bond@examp|e.org", "j|m.bond@examp|e.org"),
        ("mail ro$a.quill12@example.org", "ro$a.quill12@example.org"),
    ],
)
def test_an_address_with_a_glyph_misread_is_found_whole_as_corrected(
    read: str, address: str
) -> None:
    from privacy.detectors import detect

    fixed = corrected(read)
    assert len(fixed) == len(read)
    start = read.index(address)
    whole = [s for s in detect(fixed) if s.category == "email"]
    assert any(s.start <= start and s.end >= start + len(address) for s in whole), fixed
    as_read = [s for s in detect(read) if s.category == "email"]
    assert not any(s.start <= start and s.end >= start + len(address) for s in as_read)
