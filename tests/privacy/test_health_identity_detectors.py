"""Health and identity detectors: labelled birth dates, record numbers, ICD-10 codes,
diagnoses and medications in clinical text, passports and driver's licences (issue 20).

Every value here is invented; check digits are computed where the number has one.
"""

from __future__ import annotations

import pytest

from privacy import categories as cat
from privacy.detect_health import _terms
from privacy.detectors import detect


def found(text: str) -> dict[str, str]:
    """The text of each detected span, mapped to its category."""
    return {text[s.start : s.end]: s.category for s in detect(text)}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Patient Ada Quill  MRN 48213377  DOB 1962-04-17", "1962-04-17"),
        ("patient seen in the cardiology ward MRN 48213377 date of birth 1962-04-17", "1962-04-17"),
        ("DOB:04/17/1962", "04/17/1962"),
        ("D.O.B. 17 Apr 1962", "17 Apr 1962"),
        ("born on April 17th, 1962 in Leeds", "April 17th, 1962"),
        ("born 4th July 1975", "4th July 1975"),
        ("Geburtsdatum: 17.04.1962", "17.04.1962"),
        ("geb. 17. April 1962", "17. April 1962"),
        ("née le 17 avril 1962 à Lyon", "17 avril 1962"),
        ("fecha de nacimiento 17 de abril de 1962", "17 de abril de 1962"),
        ("data di nascita 17/04/1962", "17/04/1962"),
        ("geboortedatum 17-04-1962", "17-04-1962"),
        ("data de nascimento: 17/04/1962", "17/04/1962"),
    ],
)
def test_a_labelled_birth_date_is_found_in_several_languages(text: str, value: str) -> None:
    assert found(text).get(value) == cat.DATE_OF_BIRTH


def test_a_date_alone_in_a_form_field_is_a_birth_date_only_when_long_past() -> None:
    assert found("Jo Brandt\t07/04/1975\t")["07/04/1975"] == cat.DATE_OF_BIRTH
    assert detect("Jo Brandt\t2026-03-14\t") == []


@pytest.mark.parametrize(
    "text",
    [
        "we met on 1962-04-17 to discuss the budget",
        "born in 1962, she moved to Berlin in 1990",
        "The DOB field should be optional in the signup form",
        "invoice 2019-04-17 paid",
    ],
)
def test_an_unlabelled_date_or_a_label_without_a_date_is_not_a_birth_date(text: str) -> None:
    assert detect(text) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("MRN 48213377", "48213377"),
        ("MRN#: 00456789", "00456789"),
        ("Medical record number: AB-123456", "AB-123456"),
        ("Med. Rec. No. 4456789", "4456789"),
        ("patient id 123-456-789 seen today", "123-456-789"),
        ("Pt ID NP9865529  Allergies: none", "NP9865529"),
        ("NHS number 943 476 5919", "943 476 5919"),
        ("Medicare number 1EG4-TE5-MK73", "1EG4-TE5-MK73"),
        ("Patientennummer: 4456789", "4456789"),
        ("Krankenversicherungsnummer A123456780", "A123456780"),
        ("KV-Nr. N132811022, Diagnose B20", "N132811022"),
        ("N° de dossier 2024-88812", "2024-88812"),
        ("N° de sécurité sociale : 1 75 07 75 123 456 78", "1 75 07 75 123 456 78"),
        ("n° de sécurité sociale 275077512345611", "275077512345611"),
        ("SVNR 1237 010180", "1237 010180"),
        ("Tessera sanitaria 80380800301234567890", "80380800301234567890"),
        ("historia clínica n.º 4456789", "4456789"),
        ("cartella clinica 4456789", "4456789"),
    ],
)
def test_a_record_number_after_its_label_is_a_medical_record(text: str, value: str) -> None:
    assert found(text).get(value) == cat.MEDICAL_RECORD


@pytest.mark.parametrize(
    "text",
    [
        "Order 12345678 has shipped",
        "The patient portal is down again",
        "SELECT dob, mrn FROM patients WHERE clinic_id = ?",
        "record 3 of 12",
    ],
)
def test_numbers_without_a_record_label_are_left(text: str) -> None:
    assert detect(text) == []


def test_icd10_codes_diagnoses_and_medications_in_a_clinical_note() -> None:
    note = (
        "Pt seen for follow-up. Dx: E11.9 type 2 diabetes, I10 hypertension. "
        "Plan: metformin 500 mg bid, continue lisinopril."
    )
    spans = found(note)
    assert spans["E11.9"] == cat.DIAGNOSIS
    assert spans["I10"] == cat.DIAGNOSIS
    assert "hypertension" in spans
    assert spans["metformin 500 mg"] == cat.MEDICATION  # the strength is part of it
    assert spans["lisinopril"] == cat.MEDICATION


def test_a_drug_not_in_the_list_is_caught_by_its_stem_or_dose() -> None:
    assert found("Rx: zanubrutinib 160 mg")["zanubrutinib 160 mg"] == cat.MEDICATION
    assert found("patient started on Quvexa 20 mg")["Quvexa 20 mg"] == cat.MEDICATION


def test_terms_are_found_in_german_french_and_spanish_notes() -> None:
    assert found("Diagnose: Diabetes mellitus Typ 2")
    assert found("Patient né le 02/03/1950, diagnostic : dépression")
    assert "depresión" in " ".join(found("Paciente con diagnóstico: depresión"))


@pytest.mark.parametrize(
    "text",
    [
        "daily standup moved to room B12 at 10:00",
        "I read an article about diabetes research funding",
        "my doctor said the flu is going around",
        "Vitals stable, afebrile. Follow-up in 2 weeks.",
        "BP 128/82, HR 71, SpO2 98 % on room air.",
        "icd10_code = models.CharField(max_length=8)",
        "| `scroll` | `x`, `y`, `dx`, `dy` (wheel steps; `dy` 1 = up) |",
        "`display.py` diagnoses the X11 session (Wayland, no DISPLAY)",
        "def make_scroll(ts: float, x: int, y: int, dx: int, dy: int) -> Scroll:",
        "# X11 wheel buttons and the (dx, dy) pynput reports for them.",
    ],
)
def test_health_words_outside_a_clinical_context_are_left(text: str) -> None:
    assert detect(text) == []


def test_the_term_lists_are_data_files_with_several_languages() -> None:
    diagnoses, _ = _terms("diagnoses.txt")
    medications, _ = _terms("medications.txt")
    assert {"asthma", "asthme", "asma", "schizophrenie"} <= diagnoses
    assert {"metformin", "sertraline", "paracetamol"} <= medications
    assert not any(term.startswith("#") for term in diagnoses | medications)


@pytest.mark.parametrize(
    ("text", "value", "category"),
    [
        ("passport no. 533380006, issued 2021", "533380006", cat.PASSPORT),
        ("Passport: C01X00T47   Expiry: 2031-05-01", "C01X00T47", cat.PASSPORT),
        ("Meine Reisepassnummer: CFGHJ1K2L", "CFGHJ1K2L", cat.PASSPORT),
        ("numéro de passeport 12AB34567", "12AB34567", cat.PASSPORT),
        ("Mi número de pasaporte es XDA123456", "XDA123456", cat.PASSPORT),
        ("DL# D1234567 (California)", "D1234567", cat.DRIVERS_LICENCE),
        ("My driver's license number is 123456789", "123456789", cat.DRIVERS_LICENCE),
        ("Führerscheinnummer B072RRE2I55", "B072RRE2I55", cat.DRIVERS_LICENCE),
        ("permis de conduire n° 12AA34567", "12AA34567", cat.DRIVERS_LICENCE),
        ("driving licence MORGA657054SM9IJ", "MORGA657054SM9IJ", cat.DRIVERS_LICENCE),
    ],
)
def test_identity_document_numbers_after_their_label(text: str, value: str, category: str) -> None:
    assert found(text).get(value) == category


@pytest.mark.parametrize(
    "text",
    [
        "The passport office is closed on Mondays",
        "driver's license renewal takes 3 weeks",
        "my passport expires next year",
    ],
)
def test_identity_words_without_a_number_are_left(text: str) -> None:
    assert detect(text) == []


def test_health_and_identity_categories_are_at_level_4() -> None:
    for category in (
        cat.DATE_OF_BIRTH,
        cat.MEDICAL_RECORD,
        cat.DIAGNOSIS,
        cat.MEDICATION,
        cat.PASSPORT,
        cat.DRIVERS_LICENCE,
    ):
        assert cat.sensitivity_of(category) == 4
        assert category in cat.ALL
