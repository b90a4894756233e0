"""National identity numbers (privacy.detect_national_id, issue 20): each country's number
is found after its label and inside a sentence, the span is the number alone, the shapes
rare enough are found without a label, and ordinary numbers are left alone.

Every number here is a fake: a made-up body completed with the check digits python-stdnum
computes (or, where stdnum has no helper, the one check character its validator accepts).
"""

from __future__ import annotations

import importlib
import itertools
import string

import pytest

from privacy import categories as cat
from privacy.detect_national_id import find_national_ids
from privacy.detectors import detect
from privacy.text_buffer import IDLE_SECONDS, TypedTextRedactor
from tests.privacy.test_split_secrets import type_in_parts
from tests.privacy_helpers import visible


def _complete(module: str, body: str, alphabet: str = string.digits, width: int = 1) -> str:
    """``body`` with the check characters that make stdnum's ``module`` accept it."""
    is_valid = importlib.import_module("stdnum." + module).is_valid
    for tail in itertools.product(alphabet, repeat=width):
        if is_valid(body + "".join(tail)):
            return body + "".join(tail)
    raise AssertionError(f"no check characters complete {body!r} for {module}")


def _fakes() -> dict[str, str]:
    """One fake number per scheme, written the way people type it."""
    es_dni = importlib.import_module("stdnum.es.dni")
    es_nie = importlib.import_module("stdnum.es.nie")
    cf = importlib.import_module("stdnum.it.codicefiscale")
    pesel = importlib.import_module("stdnum.pl.pesel")
    fnr = importlib.import_module("stdnum.no.fodselsnummer")
    tckn = importlib.import_module("stdnum.tr.tckimlik")
    nir = importlib.import_module("stdnum.fr.nir")
    nif = importlib.import_module("stdnum.pt.nif")
    curp = importlib.import_module("stdnum.mx.curp")
    vnr = importlib.import_module("stdnum.at.vnr")
    ric = importlib.import_module("stdnum.cn.ric")
    mynumber = importlib.import_module("stdnum.jp.in_")
    rrn = importlib.import_module("stdnum.kr.rrn")
    verhoeff = importlib.import_module("stdnum.verhoeff")
    ean = importlib.import_module("stdnum.ean")
    luhn = importlib.import_module("stdnum.luhn")

    sin = "13000000" + luhn.calc_check_digit("13000000")
    aadhaar = "23456789012"
    aadhaar += verhoeff.calc_check_digit(aadhaar)
    pes = "8507141234"
    pes += pesel.calc_check_digit(pes)
    fodsel = "050385123"
    fodsel += fnr.calc_check_digit1(fodsel)
    fodsel += fnr.calc_check_digit2(fodsel)
    tc = "123456780"
    tc += tckn.calc_check_digits(tc)
    nir_body = "1850775123456"
    cf_body = "RSSMRA85T10A562"
    curp_body = "BEML920313HCMLNS0"
    ric_body = "11010519850714123"
    ahv = "756123456789"
    ahv += ean.calc_check_digit(ahv)
    vnr_number = "123" + "4" + "010180"
    vnr_number = vnr_number[:3] + vnr.calc_check_digit(vnr_number) + vnr_number[4:]
    cpf = _complete("br.cpf", "123456789", width=2)
    return {
        "gb_nino": "QQ 12 34 56 C",
        "ca_sin": f"{sin[:3]} {sin[3:6]} {sin[6:]}",
        "au_tfn": _complete("au.tfn", "12345678"),
        "in_aadhaar": f"{aadhaar[:4]} {aadhaar[4:8]} {aadhaar[8:]}",
        "es_dni": "12345678" + es_dni.calc_check_digit("12345678"),
        "es_nie": "X1234567" + es_nie.calc_check_digit("X1234567"),
        "it_cf": cf_body + cf.calc_check_digit(cf_body),
        "pl_pesel": pes,
        "dk_cpr": "010180-1234",
        "no_fnr": fodsel,
        "fi_hetu": _complete("fi.hetu", "010180-123", string.digits + "ABCDEFHJKLMNPRSTUVWXY"),
        "br_cpf": f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}",
        "tr_tckn": tc,
        "de_rvnr": "12 010180 M 123",  # completed below by its own check
        "at_vnr": f"{vnr_number[:4]} {vnr_number[4:]}",
        "ch_ahv": f"{ahv[:3]}.{ahv[3:7]}.{ahv[7:11]}.{ahv[11:]}",
        "be_nn": "85.07.14-123." + _complete("be.nn", "850714123", width=2)[-2:],
        "fr_nir": (
            f"{nir_body[0]} {nir_body[1:3]} {nir_body[3:5]} {nir_body[5:7]} {nir_body[7:10]}"
            f" {nir_body[10:13]} {nir.calc_check_digits(nir_body)}"
        ),
        "nl_bsn": _complete("nl.bsn", "12345678"),
        "se_pnr": _complete("se.personnummer", "850714-123"),
        "pt_nif": "12345678" + nif.calc_check_digit("12345678"),
        "cz_rc": "855714/" + _complete("cz.rc", "855714123")[-4:],
        "mx_curp": curp_body + curp.calc_check_digit(curp_body),
        "us_itin": "912-70-1234",
        "us_ein": "12-3456789",
        "ie_pps": _complete("ie.pps", "1234567", string.ascii_uppercase),
        "cn_ric": ric_body + ric.calc_check_digit(ric_body + "0"),  # takes a full-length number
        "za_id": _complete("za.idnr", "850714512308"),
        "jp_mynumber": "12345678901" + mynumber.calc_check_digit("12345678901"),
        "kr_rrn": "850714-123456" + rrn.calc_check_digit("850714123456"),
    }


FAKE = _fakes()


def _rvnr(area_birth: str, letter: str, serial: str) -> str:
    """A German pension insurance number with its check digit (the published weights)."""
    digits = area_birth + f"{ord(letter) - 64:02d}" + serial
    weights = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)
    total = sum(sum(divmod(int(d) * w, 10)) for d, w in zip(digits, weights, strict=True))
    return f"{area_birth[:2]} {area_birth[2:]} {letter} {serial}{total % 10}"


FAKE["de_rvnr"] = _rvnr("12010180", "M", "12")

# (scheme, a label as people type it, a sentence in the label's language with {v})
LABELLED: list[tuple[str, str, str]] = [
    ("gb_nino", "NI number:", "hi, my national insurance number is {v} if payroll asks"),
    ("ca_sin", "Social Insurance Number (SIN):", "mon numéro d'assurance sociale est {v}"),
    ("au_tfn", "Tax File Number", "my TFN is {v} for the super fund"),
    ("in_aadhaar", "aadhaar no", "please link aadhaar card {v} to the account"),
    ("es_dni", "DNI:", "te paso mi DNI {v} para la reserva"),
    ("es_nie", "NIE", "Adjunto mi NIE {v} para el contrato."),
    ("it_cf", "Codice fiscale:", "il mio codice fiscale è {v}, grazie"),
    ("pl_pesel", "PESEL", "mój PESEL to {v}"),
    ("dk_cpr", "CPR-nr.:", "mit cpr nummer er {v}"),
    ("no_fnr", "Fødselsnummer (11 siffer):", "fødselsnummeret mitt er {v}"),
    ("fi_hetu", "henkilötunnus", "henkilötunnukseni on {v}"),
    ("br_cpf", "CPF:", "meu CPF é {v}, obrigado"),
    ("tr_tckn", "T.C. Kimlik No:", "TC kimlik numaram {v}"),
    ("de_rvnr", "Sozialversicherungsnummer:", "meine Rentenversicherungsnummer lautet {v}"),
    ("at_vnr", "SV-Nummer", "Meine Sozialversicherungsnummer ist {v}."),
    ("ch_ahv", "AHV-Nummer", "Meine AHV-Nummer lautet {v}."),
    ("be_nn", "N° de registre national :", "mijn rijksregisternummer is {v}"),
    ("fr_nir", "N° de sécurité sociale :", "voici mon numéro de sécurité sociale {v}"),
    ("nl_bsn", "BSN", "mijn burgerservicenummer is {v}"),
    ("se_pnr", "Personnummer:", "mitt personnummer är {v}"),
    ("pt_nif", "NIF", "o meu número de contribuinte é {v}"),
    ("cz_rc", "Rodné číslo:", "moje rodné číslo je {v}"),
    ("mx_curp", "CURP:", "mi CURP es {v}"),
    ("us_itin", "ITIN", "my ITIN is {v} for the return"),
    ("us_ein", "EIN:", "the company's EIN is {v}"),
    ("ie_pps", "PPSN", "my PPS number is {v}"),
    ("cn_ric", "身份证号码:", "my resident identity card number is {v}"),
    ("za_id", "SA ID number:", "my ID number is {v}"),
    ("jp_mynumber", "マイナンバー:", "個人番号 {v}"),
    ("kr_rrn", "주민등록번호:", "resident registration number {v}"),
]


@pytest.mark.parametrize(("scheme", "label", "sentence"), LABELLED, ids=[c[0] for c in LABELLED])
def test_each_country_is_found_after_its_label(scheme: str, label: str, sentence: str) -> None:
    value = FAKE[scheme]
    text = f"{label} {value}"
    spans = find_national_ids(text)
    assert {text[s.start : s.end] for s in spans} == {value}
    assert {s.category for s in spans} == {cat.SSN}
    # The merged result of every detector keeps the number's whole extent.
    assert [text[s.start : s.end] for s in detect(text)] == [value]


@pytest.mark.parametrize(("scheme", "label", "sentence"), LABELLED, ids=[c[0] for c in LABELLED])
def test_each_country_is_found_in_a_sentence(scheme: str, label: str, sentence: str) -> None:
    value = FAKE[scheme]
    text = sentence.format(v=value)
    assert value in {text[s.start : s.end] for s in find_national_ids(text)}


@pytest.mark.parametrize(
    "scheme", ["it_cf", "mx_curp", "cn_ric", "be_nn", "br_cpf", "ch_ahv", "fr_nir"]
)
def test_rare_shapes_with_a_valid_check_are_found_without_a_label(scheme: str) -> None:
    value = FAKE[scheme]
    text = f"sent {value} over yesterday"
    assert [text[s.start : s.end] for s in find_national_ids(text)] == [value]


def test_a_rare_shape_whose_check_fails_is_not_taken_without_a_label() -> None:
    cpf = FAKE["br_cpf"]
    wrong = cpf[:-1] + str((int(cpf[-1]) + 1) % 10)
    assert find_national_ids(f"ref {wrong} ok") == []


def test_a_label_that_names_one_kind_takes_its_shape_even_with_a_slip() -> None:
    pesel = FAKE["pl_pesel"]
    slipped = pesel[:-1] + str((int(pesel[-1]) + 1) % 10)
    text = f"PESEL: {slipped}"
    assert [text[s.start : s.end] for s in find_national_ids(text)] == [slipped]


def test_a_word_label_needs_the_check_to_hold() -> None:
    # "sin" is also Spanish for "without": nine digits after it are a SIN only when
    # their Luhn digit holds.
    assert find_national_ids("sin 123 456 780 de momento") == []
    sin = FAKE["ca_sin"]
    assert find_national_ids(f"SIN {sin}") != []


def test_a_label_typed_before_a_pause_still_names_the_number() -> None:
    r = TypedTextRedactor()
    out = type_in_parts(r, ["PESEL: ", FAKE["pl_pesel"]], pause=IDLE_SECONDS + 2)
    assert visible(out) == "PESEL: " + "#" * 11


NEGATIVES = [
    "order 12345678901 shipped",
    "Order #669-4867725-7502620",
    "invoice INV-2024-00012345 is overdue",
    "call me on +44 7700 900123 or 020 7946 0018",
    "the release is 12.04.2025, build 2025.04.12-1",
    "meeting on 2024-03-05 at 10:30",
    "version 10.2.3.4567 and 1.22.333",
    "tracking 1Z999AA10123456784",
    "sha 3f786850e387550fdab836ed7e6dc881de23001b",
    "Nie mam czasu, zadzwoń 501 234 567",  # Polish "nie" (no) and a phone number
    "Ich habe ein Paket 123456789 bekommen",  # German "ein" (a)
    "zapłacę za 30 dni 20240115 w piątek",  # Polish "dni" (days)
    "uid=1000(alice) gid=1000(alice)",
    "ID number of the ticket: 12345",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert find_national_ids(text) == []


def test_eleven_digits_without_a_label_are_left_alone_valid_or_not() -> None:
    pesel = FAKE["pl_pesel"]
    wrong = pesel[:-1] + str((int(pesel[-1]) + 1) % 10)
    assert find_national_ids(f"number {wrong} here") == []
    # Even a valid PESEL alone: eleven digits with one check digit are as often an
    # order or account number.
    assert find_national_ids(f"number {pesel} here") == []
