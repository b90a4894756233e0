"""National identity numbers: social security, tax and personal numbers of many countries.

A national number is found when its check digits or letters hold (python-stdnum, or the
short published algorithms below where stdnum has none) and either a label names it
("CPR-nr.:", "T.C. Kimlik No", "N° de registre national", "mój PESEL to") or its shape
alone is rare enough: the Italian codice fiscale, the Mexican CURP, the Chinese resident
ID, and the punctuated Belgian, Brazilian, Swiss and French forms. A bare run of nine to
thirteen digits that merely passes a check digit is an order number as often as an
identity number, so those are taken only after their label. Findings are ``ssn``: the
category of a person's national number (sensitivity 4).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import import_module

from privacy import categories as cat
from privacy import detect_words as words
from privacy.spans import Span

Validator = Callable[[str], bool]


def _stdnum(module: str) -> Validator:
    """``is_valid`` of ``stdnum.<module>``, imported on first use (stdnum's modules cost
    memory and start-up time, and most text never reaches a check)."""

    def check(value: str) -> bool:
        try:
            return bool(import_module("stdnum." + module).is_valid(value))
        except Exception:  # a checker that fails has not recognised the value
            return False

    return check


# The UK National Insurance number has no check digit: prefixes never issued are excluded.
_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]")
_NINO_NOT = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def _nino_valid(value: str) -> bool:
    compact = re.sub(r"\s", "", value).upper()
    return _NINO.fullmatch(compact) is not None and compact[:2] not in _NINO_NOT


def _rvnr_valid(value: str) -> bool:
    """The German pension insurance number (Rentenversicherungsnummer): area, birth date,
    the surname's initial, serial and a check digit (weights 2121572121212 on the digits
    with the letter as its two-digit place in the alphabet; sum of the products' digits)."""
    compact = re.sub(r"\s", "", value).upper()
    if not re.fullmatch(r"\d{8}[A-Z]\d{3}", compact):
        return False
    day, month = int(compact[2:4]), int(compact[4:6])
    if not (1 <= day <= 31 + 50 and (day <= 31 or day > 50)) or not 1 <= month <= 12:
        return False  # days above 50 mark a second number issued for the same date
    digits = compact[:8] + f"{ord(compact[8]) - 64:02d}" + compact[9:11]
    total = sum(
        sum(divmod(int(d) * w, 10))
        for d, w in zip(digits, (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1), strict=True)
    )
    return total % 10 == int(compact[11])


_NRIC = re.compile(r"[STFG]\d{7}[A-Z]")


def _nric_valid(value: str) -> bool:
    """The Singapore NRIC/FIN: a series letter, seven digits, a check letter (mod 11)."""
    compact = value.upper()
    if _NRIC.fullmatch(compact) is None:
        return False
    total = sum(int(d) * w for d, w in zip(compact[1:8], (2, 7, 6, 5, 4, 3, 2), strict=True))
    total += 4 if compact[0] in "TG" else 0
    table = "JZIHGFEDCBA" if compact[0] in "ST" else "XWUTRQPNMLK"
    return table[total % 11] == compact[8]


# --- the schemes: the shape of a value as typed, and its check --------------------------

# A value stands alone: no letter, digit or joining mark right before or after it.
_BEFORE = r"(?<![\w./-])"
_AFTER = r"(?![\w/]|[.,-]\w)"
_SEP = r"[ -]?"
_OMO = r"[\dLMNP-Vlmnp-v]"  # a digit of the codice fiscale, or its homocode letter

_SCHEMES: dict[str, tuple[str, Validator]] = {
    "gb_nino": (r"[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d]", _nino_valid),
    "ca_sin": (r"\d{3}" + _SEP + r"\d{3}" + _SEP + r"\d{3}", _stdnum("ca.sin")),
    "au_tfn": (r"\d{3} ?\d{3} ?\d{2,3}", _stdnum("au.tfn")),
    "in_aadhaar": (r"\d{4}" + _SEP + r"\d{4}" + _SEP + r"\d{4}", _stdnum("in_.aadhaar")),
    "es_dni": (r"\d{8}" + _SEP + r"[A-Za-z]", _stdnum("es.dni")),
    "es_nie": (r"[XYZxyz]" + _SEP + r"\d{7}" + _SEP + r"[A-Za-z]", _stdnum("es.nie")),
    "it_cf": (
        r"[A-Za-z]{6}" + _OMO + r"{2}[A-Za-z]" + _OMO + r"{2}[A-Za-z]" + _OMO + r"{3}[A-Za-z]",
        _stdnum("it.codicefiscale"),
    ),
    "pl_pesel": (r"\d{11}", _stdnum("pl.pesel")),
    "dk_cpr": (r"\d{6}-?\d{4}", _stdnum("dk.cpr")),
    "no_fnr": (r"\d{6} ?\d{5}", _stdnum("no.fodselsnummer")),
    "se_pnr": (r"(?:\d{2})?\d{6}[-+]?\d{4}", _stdnum("se.personnummer")),
    "fi_hetu": (r"\d{6}[-+A-FU-Ya-fu-y]\d{3}[0-9A-Ya-y]", _stdnum("fi.hetu")),
    "br_cpf": (r"\d{3}\.?\d{3}\.?\d{3}-?\d{2}", _stdnum("br.cpf")),
    "tr_tckn": (r"\d{11}", _stdnum("tr.tckimlik")),
    "de_rvnr": (r"\d{2} ?\d{6} ?[A-Za-z] ?\d{3}", _rvnr_valid),
    "de_idnr": (r"\d{2} ?\d{3} ?\d{3} ?\d{3}", _stdnum("de.idnr")),
    "at_vnr": (r"\d{4} ?\d{6}", _stdnum("at.vnr")),
    "ch_ahv": (r"756\.?\d{4}\.?\d{4}\.?\d{2}", _stdnum("ch.ssn")),
    "be_nn": (r"\d{2}\.?\d{2}\.?\d{2}[-. ]?\d{3}\.?\d{2}", _stdnum("be.nn")),
    "fr_nir": (r"[12] ?\d{2} ?\d{2} ?[\dABab]{2} ?\d{3} ?\d{3} ?\d{2}", _stdnum("fr.nir")),
    "nl_bsn": (r"\d{4}\.?\d{2}\.?\d{3}|\d{3}[ .]?\d{3}[ .]?\d{3}|\d{8}", _stdnum("nl.bsn")),
    "pt_nif": (r"\d{3} ?\d{3} ?\d{3}", _stdnum("pt.nif")),
    "cz_rc": (r"\d{6}/?\d{3,4}", _stdnum("cz.rc")),
    "mx_curp": (r"[A-Za-z]{4}\d{6}[HMXhmx][A-Za-z]{5}[A-Za-z\d]\d", _stdnum("mx.curp")),
    "us_itin": (r"9\d{2}[- ]?\d{2}[- ]?\d{4}", _stdnum("us.itin")),
    "us_ein": (r"\d{2}-?\d{7}", _stdnum("us.ein")),
    "ie_pps": (r"\d{7}[A-Wa-w][A-Ia-iWw]?", _stdnum("ie.pps")),
    "cn_ric": (r"\d{6} ?\d{8} ?\d{3}[\dXx]", _stdnum("cn.ric")),
    "za_id": (r"\d{6} ?\d{4} ?\d{2} ?\d", _stdnum("za.idnr")),
    "sg_nric": (r"[STFGstfg]\d{7}[A-Za-z]", _nric_valid),
    "jp_mynumber": (r"\d{4}" + _SEP + r"\d{4}" + _SEP + r"\d{4}", _stdnum("jp.in_")),
    "kr_rrn": (r"\d{6}-?\d{7}", _stdnum("kr.rrn")),
    "ro_cnp": (r"\d{13}", _stdnum("ro.cnp")),
    "bg_egn": (r"\d{10}", _stdnum("bg.egn")),
    "gr_amka": (r"\d{11}", _stdnum("gr.amka")),
    "hr_oib": (r"\d{11}", _stdnum("hr.oib")),
    "is_kt": (r"\d{6}-?\d{4}", _stdnum("is_.kennitala")),
    "il_id": (r"\d{9}", _stdnum("il.idnr")),
    "cl_rut": (r"\d{1,2}\.?\d{3}\.?\d{3}-?[\dKk]", _stdnum("cl.rut")),
    "ee_ik": (r"\d{11}", _stdnum("ee.ik")),
    "lt_ak": (r"\d{11}", _stdnum("lt.asmens")),
}
_VALUE: dict[str, re.Pattern[str]] = {
    name: re.compile(_BEFORE + "(?:" + shape + ")" + _AFTER)
    for name, (shape, _) in _SCHEMES.items()
}

# --- labels: which schemes a label may name ---------------------------------------------

# "ID number", "national ID": any scheme of a national number may follow.
_ANY = tuple(name for name in _SCHEMES if name not in ("us_ein", "gb_nino"))
_NO = r"(?:\s*(?:number|no\.?|nr\.?|#|num(?:ber|[ée]ro)?))?"
# A label that names one kind of number and no other thing (PESEL, CPR, Aadhaar, BSN) takes
# a value of that number's exact shape even when its check fails: a number typed with a
# slip in it, after its own label, is still the person's. A label that is also a common
# word or a generic one ("SIN", "NAS", "ID number", "my number") needs the check to hold.
_LABELS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    (r"national\s+insurance" + _NO + r"|ni\s*(?:number|no\.?|nr\.?|#)|nino", ("gb_nino",), True),
    (
        r"social\s+insurance" + _NO + r"|num[ée]ro\s+d['’]assurance\s+sociale",
        ("ca_sin",),
        True,
    ),
    (r"sin|nas", ("ca_sin",), False),
    (r"tax\s+file" + _NO + r"|tfn", ("au_tfn",), True),
    (r"aadhaa?r(?:\s+card)?" + _NO + r"|uidai|आधार", ("in_aadhaar",), True),
    (r"uid", ("in_aadhaar",), False),
    (
        r"dni|nie|documento\s+nacional\s+de\s+identidad|n[úu]mero\s+de\s+identidad",
        ("es_dni", "es_nie"),
        True,
    ),
    (r"nif", ("es_dni", "es_nie", "pt_nif"), True),
    (r"codice\s+fiscale|cod\.\s*fisc\.?|c\.\s?f\.|(?-i:CF)", ("it_cf",), True),
    (r"pesel", ("pl_pesel",), True),
    (
        r"cpr(?:-?nr\.?|-?nummer)?|person(?:nummer|nr\.?)|f[øo]dselsnummer|f[øo]dselsnr\.?"
        r"|d-nummer",
        ("dk_cpr", "no_fnr", "se_pnr"),
        True,
    ),
    (r"henkil[öo]tunnu[sk]\w*|hetu|sotu|personbeteckning", ("fi_hetu",), True),
    (r"cpf", ("br_cpf",), True),
    (
        r"t\.?\s?c\.?\s+kimlik(?:\s+(?:no|numaras[ıi]))?|kimlik\s+(?:no|numaras[ıi])|tckn"
        r"|tc\s+no",
        ("tr_tckn",),
        True,
    ),
    (
        r"(?:sozial|renten)versicherungs(?:nummer|-?nr\.?)|sv-?(?:nummer|nr\.?)|svnr"
        r"|versicherungsnummer|rvnr",
        ("de_rvnr", "at_vnr", "ch_ahv"),
        True,
    ),
    (
        r"steuer-?id(?:entifikationsnummer)?|steuerliche\s+identifikationsnummer|idnr"
        r"|identifikationsnummer",
        ("de_idnr",),
        True,
    ),
    (r"ahv(?:-?(?:nummer|nr\.?)|n13)?|avs", ("ch_ahv",), True),
    (
        r"registre\s+national|rijksregister(?:nummer)?|num[ée]ro\s+national|insz|niss"
        r"|national\s+register" + _NO + r"|(?-i:NN)",
        ("be_nn",),
        True,
    ),
    (
        r"num[ée]ro\s+de\s+s[ée]curit[ée]\s+sociale|s[ée]curit[ée]\s+sociale|s[ée]cu|nir|insee",
        ("fr_nir",),
        True,
    ),
    (r"bsn|burgerservicenummer|sofi-?nummer", ("nl_bsn",), True),
    (r"contribuinte", ("pt_nif",), True),
    (r"rodn[ée]\s+[čc][íi]slo|(?-i:RČ)|birth\s+number", ("cz_rc",), True),
    (r"curp", ("mx_curp",), True),
    (r"itin", ("us_itin",), True),
    (
        r"(?-i:EIN|FEIN)|employer\s+identification" + _NO + r"|tax\s*id" + _NO,
        ("us_ein", "us_itin"),
        True,
    ),
    (r"ppsn?" + _NO + r"|personal\s+public\s+service" + _NO, ("ie_pps",), True),
    (r"身份证(?:号码?)?|resident\s+identity(?:\s+card)?" + _NO, ("cn_ric",), True),
    (r"nric|(?-i:FIN)", ("sg_nric",), False),
    (r"マイナンバー|個人番号", ("jp_mynumber",), True),
    (r"my\s*number", ("jp_mynumber",), False),
    (r"주민등록번호|주민번호|resident\s+registration" + _NO + r"|rrn", ("kr_rrn",), True),
    (r"cnp|cod\s+numeric\s+personal", ("ro_cnp",), True),
    (r"egn|егн", ("bg_egn",), True),
    (r"amka|αμκα", ("gr_amka",), True),
    (r"oib", ("hr_oib",), True),
    (r"kennitala", ("is_kt",), True),
    (r"teudat\s+zehut|zehut", ("il_id",), True),
    (r"(?-i:RUT|RUN)", ("cl_rut",), False),
    (r"isikukood", ("ee_ik",), True),
    (r"asmens\s+kodas", ("lt_ak",), True),
    (
        r"national\s+id(?:entity|entification)?(?:\s+card)?"
        + _NO
        + r"|(?:personal|citizen)\s+id(?:entity|entification)?"
        + _NO
        + r"|identity\s+(?:number|no\.?|card)|id\s*(?:number|no\.?|#)|(?:sa|south\s+african)\s+id",
        _ANY,
        False,
    ),
)
_LABEL = re.compile(
    r"(?i)(?<!\w)(?:"
    + "|".join(f"(?P<l{i}>{pattern})" for i, (pattern, _, _) in enumerate(_LABELS))
    + r")(?!\w)"
)
# How far after its label a number may start: room for "is", "to", "lautet", "(11 siffer):".
_REACH = 32
CUES = words.cues(
    "nati ni nino soci sin numé nume nas tax tfn aadh uida uid आध dni nie docu núme nif codi"
    " cod c f cf pese cpr pers føds fods d henk hetu sotu cpf t tc kiml tckn sozi rent sv svnr"
    " vers rvnr steu idnr iden ahv ahvn avs regi rijk insz niss nn sécu secu nir inse bsn"
    " burg sofi cont rodn rč birt curp itin ein fein empl pps ppsn resi nric fin my myn マイ 個人"
    " 身份 주민등 주민번 cnp egn егн amka αμκα oib kenn teud zehu rut run isik asme citi id sa"
    " sout"
)


# --- without a label: shapes rare enough on their own ------------------------------------

_BARE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(_BEFORE + shape + _AFTER), scheme)
    for shape, scheme in (
        # 16 letters and digits in the codice fiscale's order (homocode letters allowed)
        (_SCHEMES["it_cf"][0], "it_cf"),
        (r"[A-Z]{4}\d{6}[HMX][A-Z]{5}[A-Z\d]\d", "mx_curp"),
        (r"\d{17}[\dXx]", "cn_ric"),
        (r"\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}", "be_nn"),
        (r"\d{3}\.\d{3}\.\d{3}-\d{2}", "br_cpf"),
        (r"756\.\d{4}\.\d{4}\.\d{2}", "ch_ahv"),
        (r"[12] \d{2} \d{2} [\dAB]{2} \d{3} \d{3} \d{2}", "fr_nir"),
    )
)
# Any of the shapes above holds six letters-or-digits running or a dotted/spaced group:
# text without a run of six word characters or a digit group after "." or " " has none.
_BARE_HINT = re.compile(r"\w{6}|\d[. ]\d")


def _checked(scheme: str, value: str) -> bool:
    return _SCHEMES[scheme][1](value)


def find_national_ids(text: str) -> list[Span]:
    """National identity, social security and tax numbers: after their label when its
    check digit holds, or alone when the shape and its check are rare enough."""
    if not words.has_digit(text):
        return []
    out: list[Span] = []
    if words.has_cue(text, CUES):
        for label in _LABEL.finditer(text):
            span = _after_label(text, label)
            if span is not None:
                out.append(span)
    if _BARE_HINT.search(text) is not None:
        for pattern, scheme in _BARE:
            for m in pattern.finditer(text):
                if _checked(scheme, m.group()):
                    out.append(Span(m.start(), m.end(), cat.SSN))
    return out


def _after_label(text: str, label: re.Match[str]) -> Span | None:
    """The first number its label's schemes accept that starts within reach after it;
    after a label that names one kind alone, the first of that kind's exact shape."""
    _, schemes, lenient = _LABELS[int((label.lastgroup or "l0")[1:])]
    end = label.end()
    limit = min(len(text), end + _REACH)
    if not words.has_digit(text[end:limit]):
        return None
    checked: Span | None = None
    shaped: Span | None = None
    for scheme in schemes:
        pattern = _VALUE[scheme]
        m = pattern.search(text, end)
        while m is not None and m.start() < limit:
            if shaped is None or (m.start(), -m.end()) < (shaped.start, -shaped.end):
                shaped = Span(m.start(), m.end(), cat.SSN)
            if _checked(scheme, m.group()):
                if checked is None or m.start() < checked.start:
                    checked = Span(m.start(), m.end(), cat.SSN)
                break
            m = pattern.search(text, m.start() + 1)
    return checked if checked is not None or not lenient else shaped
