"""End to end on a real X server (issue 20): a clinical note with a date of birth, a
medical record number, a diagnosis with its ICD-10 code and a medication, typed into an
ordinary terminal no denylist covers, leaves none of them in ``export`` or in any file of
the home, while the words around them are kept. All values are generated fakes."""

from __future__ import annotations

import secrets
import string
from pathlib import Path

import pytest

from tests.privacy.test_privacy_e2e import (
    Desktop,
    desktop,  # noqa: F401 - the fixture, used by name
    export,
    files_containing,
    home,  # noqa: F401 - the fixture, used by name
    record_session,
    typed,
)
from tests.xserver import XServer

pytestmark = pytest.mark.x11

NOTES = "Ward round notes"
DIAGNOSES = ("type 2 diabetes", "major depressive disorder", "epilepsy", "asthma")
CODES = ("E11.9", "F32.1", "G40.909", "J45.909")
MEDICATIONS = ("metformin", "sertraline", "levetiracetam", "salbutamol")


def fake_mrn() -> str:
    return "".join(secrets.choice(string.digits) for _ in range(8))


def fake_birth_date() -> str:
    year, month, day = (
        1930 + secrets.randbelow(70),
        secrets.randbelow(12) + 1,
        secrets.randbelow(28) + 1,
    )
    return f"{day:02d}.{month:02d}.{year}"


def test_a_typed_clinical_note_leaves_no_health_data_in_the_export(
    x_server: XServer,
    desktop: Desktop,  # noqa: F811 - the fixture
    home: Path,  # noqa: F811 - the fixture
) -> None:
    pick = secrets.randbelow(len(DIAGNOSES))
    mrn, born = fake_mrn(), fake_birth_date()
    diagnosis, code, drug = DIAGNOSES[pick], CODES[pick], MEDICATIONS[pick]
    notes = desktop.terminal(NOTES, 40, 40)

    def act() -> None:
        desktop.focus(notes)
        desktop.type_lines(
            f"Patient Ada Quill  DOB {born}  MRN {mrn}",
            f"Dx: {diagnosis} ({code})",
            f"Plan: start {drug} 50 mg, review in six weeks",
            "otter closing words",
        )

    err = record_session(home, x_server, act, desktop)
    stdout, records = export(home)
    text = typed(records)

    for words in (
        "Patient Ada Quill  DOB ",
        "  MRN ",
        "Dx: ",
        "Plan: start ",
        "otter closing words",
    ):
        assert words in text, f"{words!r} was not recorded"
    forbidden = [born, mrn, diagnosis, code, drug]
    for needle in forbidden:
        assert needle not in stdout, f"{needle!r} is in the export"
        assert needle not in text, f"{needle!r} was typed into the stored stream"
        assert needle not in err
    assert not files_containing(home, forbidden)
    redacted = {r["redacted"] for r in records if r["type"] == "key" and r.get("redacted")}
    assert {"date_of_birth", "medical_record", "diagnosis", "medication"} <= redacted, redacted
