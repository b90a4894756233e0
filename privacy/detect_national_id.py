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
    # no space before the letter: "za 30 dni 20240115 w" is Polish for "in 30 days"
    "es_dni": (r"\d{8}-?[A-Za-z]", _stdnum("es.dni")),
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
# One pattern per distinct shape: schemes of one shape (eleven digits: PESEL, T.C.
# Kimlik, AMKA, OIB, ...) are searched for once and each check is tried on the match.
_PATTERN: dict[str, re.Pattern[str]] = {
    shape: re.compile(_BEFORE + "(?:" + shape + ")" + _AFTER) for shape, _ in _SCHEMES.values()
}

# --- labels: which schemes a label may name ---------------------------------------------

# "ID number", "national ID": any scheme of a national number may follow.
_ANY = tuple(name for name in _SCHEMES if name not in ("us_ein", "gb_nino"))
_NO = r"(?:\s*(?:number|no\.?|nr\.?|#|num(?:ber|[ée]ro)?))?"
# A label that names one kind of number and no other thing (PESEL, CPR, Aadhaar, BSN) takes
# a value of that number's exact shape even when its check fails: a number typed with a
# slip in it, after its own label, is still the person's. A label that is also a common
# word or a generic one ("SIN", "NAS", "ID number", "my number") needs the check to hold.
# Each label: its pattern, the schemes it may name, whether its exact shape is enough, and
# the beginnings (detect_words cue keys) of the word it starts with: the pattern is tried
# only where such a word begins.
_LABELS: tuple[tuple[str, tuple[str, ...], bool, str], ...] = (
    (
        r"national\s+insurance" + _NO + r"|ni\s*(?:number|no\.?|nr\.?|#)|nino",
        ("gb_nino",),
        True,
        "nati ni nino",
    ),
    (
        r"social\s+insurance" + _NO + r"|num[ée]ro\s+d['’]assurance\s+sociale",
        ("ca_sin",),
        True,
        "soci numé nume",
    ),
    (r"sin|nas", ("ca_sin",), False, "sin nas"),
    (r"tax\s+file" + _NO + r"|tfn", ("au_tfn",), True, "tax tfn"),
    (r"aadhaa?r(?:\s+card)?" + _NO + r"|uidai|आधार", ("in_aadhaar",), True, "aadh uida आध"),
    (r"uid", ("in_aadhaar",), False, "uid"),
    (
        r"dni|nie|documento\s+nacional\s+de\s+identidad|n[úu]mero\s+de\s+identidad",
        ("es_dni", "es_nie"),
        True,
        "dni nie docu núme nume",
    ),
    (r"nif", ("es_dni", "es_nie", "pt_nif"), True, "nif"),
    (r"codice\s+fiscale|cod\.\s*fisc\.?|c\.\s?f\.|(?-i:CF)", ("it_cf",), True, "codi cod c cf"),
    (r"pesel", ("pl_pesel",), True, "pese"),
    (
        # "fødselsnummeret", "personnumret": the definite forms too
        r"cpr(?:-?nr\.?|-?nummer\w*)?|person(?:nummer\w*|numret|nr\.?)|f[øo]dselsnummer\w*"
        r"|f[øo]dselsnr\.?"
        r"|d-nummer",
        ("dk_cpr", "no_fnr", "se_pnr"),
        True,
        "cpr pers føds fods d",
    ),
    (
        r"henkil[öo]tunnu[sk]\w*|hetu|sotu|personbeteckning",
        ("fi_hetu",),
        True,
        "henk hetu sotu pers",
    ),
    (r"cpf", ("br_cpf",), True, "cpf"),
    (
        r"t\.?\s?c\.?\s+kimlik(?:\s+(?:no|numaras[ıi]))?|kimlik\s+(?:no|numaras[ıi])|tckn"
        r"|tc\s+no",
        ("tr_tckn",),
        True,
        "t tc kiml tckn",
    ),
    (
        r"(?:sozial|renten)versicherungs(?:nummer|-?nr\.?)|sv-?(?:nummer|nr\.?)|svnr"
        r"|versicherungsnummer|rvnr",
        ("de_rvnr", "at_vnr", "ch_ahv"),
        True,
        "sozi rent sv svnr vers rvnr",
    ),
    (
        r"steuer-?id(?:entifikationsnummer)?|steuerliche\s+identifikationsnummer|idnr"
        r"|identifikationsnummer",
        ("de_idnr",),
        True,
        "steu idnr iden",
    ),
    (r"ahv(?:-?(?:nummer|nr\.?)|n13)?|avs", ("ch_ahv",), True, "ahv ahvn avs"),
    (
        r"(?:n[°º]\s*(?:de\s+)?|num[ée]ro\s+(?:de\s+)?)?registre\s+national|rijksregister(?:nummer)?"
        r"|num[ée]ro\s+national|insz|niss|national\s+register" + _NO + r"|(?-i:NN)",
        ("be_nn",),
        True,
        "n regi rijk numé nume insz niss nati nn",
    ),
    (
        r"num[ée]ro\s+de\s+s[ée]curit[ée]\s+sociale|s[ée]curit[ée]\s+sociale|s[ée]cu|nir|insee",
        ("fr_nir",),
        True,
        "numé nume sécu secu nir inse",
    ),
    (r"bsn|burgerservicenummer|sofi-?nummer", ("nl_bsn",), True, "bsn burg sofi"),
    (r"contribuinte", ("pt_nif",), True, "cont"),
    (r"rodn[ée]\s+[čc][íi]slo|(?-i:RČ)|birth\s+number", ("cz_rc",), True, "rodn rč birt"),
    (r"curp", ("mx_curp",), True, "curp"),
    (r"itin", ("us_itin",), True, "itin"),
    (
        r"(?-i:EIN|FEIN)|employer\s+identification" + _NO + r"|tax\s*id" + _NO,
        ("us_ein", "us_itin"),
        True,
        "ein fein empl tax taxi",
    ),
    (
        r"ppsn?" + _NO + r"|personal\s+public\s+service" + _NO,
        ("ie_pps",),
        True,
        "pps ppsn pers",
    ),
    (
        r"身份证(?:号码?)?|resident\s+identity(?:\s+card)?" + _NO,
        ("cn_ric",),
        True,
        "身份 resi",
    ),
    (r"nric|(?-i:FIN)", ("sg_nric",), False, "nric fin"),
    (r"マイナンバー|個人番号", ("jp_mynumber",), True, "マイ 個人"),
    (r"my\s*number", ("jp_mynumber",), False, "my myn"),
    (
        r"주민등록번호|주민번호|resident\s+registration" + _NO + r"|rrn",
        ("kr_rrn",),
        True,
        "주민 resi rrn",
    ),
    (r"cnp|cod\s+numeric\s+personal", ("ro_cnp",), True, "cnp cod"),
    (r"egn|егн", ("bg_egn",), True, "egn егн"),
    (r"amka|αμκα", ("gr_amka",), True, "amka αμκα"),
    (r"oib", ("hr_oib",), True, "oib"),
    (r"kennitala", ("is_kt",), True, "kenn"),
    (r"teudat\s+zehut|zehut", ("il_id",), True, "teud zehu"),
    (r"(?-i:RUT|RUN)", ("cl_rut",), False, "rut run"),
    (r"isikukood", ("ee_ik",), True, "isik"),
    (r"asmens\s+kodas", ("lt_ak",), True, "asme"),
    (
        r"national\s+id(?:entity|entification)?(?:\s+card)?"
        + _NO
        + r"|(?:personal|citizen)\s+id(?:entity|entification)?"
        + _NO
        + r"|identity\s+(?:number|no\.?|card)|id\s*(?:number|no\.?|#)|(?:sa|south\s+african)\s+id",
        _ANY,
        False,
        "nati pers citi iden id sa sout",
    ),
)
_LABEL_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(r"(?i)(?<!\w)(?:" + pattern + r")(?!\w)") for pattern, _, _, _ in _LABELS
)
# Which labels a word with a given beginning may start.
_BY_KEY: dict[str, tuple[int, ...]] = {}
for _index, _label in enumerate(_LABELS):
    for _key in words.cues(_label[3]):
        _BY_KEY[_key] = (*_BY_KEY.get(_key, ()), _index)
CUES: frozenset[str] = frozenset(_BY_KEY)
"""The cue keys of every label (detect_words): a text without one has no label."""
FOLLOW_CUES: frozenset[str] = frozenset(k for k in CUES if len(k) > 1 and k not in ("my", "myn"))
"""The keys after which the text typed next is judged with this one (a label typed before
a pause): one-letter words and "my" are left out, as too common for what they would cost."""
# How far after its label a number may start: room for "is", "to", "lautet", "(11 siffer):";
# the longest value typed (a spaced NIR) is 21 characters.
_REACH = 32
_LONGEST = 24
# Per label, the distinct shapes its schemes may take, each with the schemes of that shape.
_LABEL_SHAPES: tuple[tuple[tuple[re.Pattern[str], tuple[str, ...]], ...], ...] = tuple(
    tuple(
        (_PATTERN[shape], tuple(k for k in schemes if _SCHEMES[k][0] == shape))
        for shape in dict.fromkeys(_SCHEMES[k][0] for k in schemes)
    )
    for _, schemes, _, _ in _LABELS
)


# --- without a label: shapes rare enough on their own ------------------------------------

_BARE_SHAPES: tuple[tuple[str, str], ...] = (
    # 16 letters and digits in the codice fiscale's order (homocode letters allowed)
    (_SCHEMES["it_cf"][0], "it_cf"),
    (r"[A-Z]{4}\d{6}[HMX][A-Z]{5}[A-Z\d]\d", "mx_curp"),
    (r"\d{17}[\dXx]", "cn_ric"),
    (r"\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}", "be_nn"),
    (r"\d{3}\.\d{3}\.\d{3}-\d{2}", "br_cpf"),
    (r"756\.\d{4}\.\d{4}\.\d{2}", "ch_ahv"),
    (r"[12] \d{2} \d{2} [\dAB]{2} \d{3} \d{3} \d{2}", "fr_nir"),
)
# All in one pattern (one pass over the text); the group that matched names the scheme.
_BARE = re.compile(
    _BEFORE
    + "(?:"
    + "|".join(f"(?P<b{i}>{shape})" for i, (shape, _) in enumerate(_BARE_SHAPES))
    + ")"
    + _AFTER
)
# Every value holds six digits at least (a NINO's), every shape taken alone seven: text
# with fewer is spared the searches. Possessive, so a text without them fails in one pass.
_SIX_DIGITS = re.compile(r"\D*+(?:\d\D*+){6}")
_SEVEN_DIGITS = re.compile(r"\D*+(?:\d\D*+){7}")


def _checked(scheme: str, value: str) -> bool:
    return _SCHEMES[scheme][1](value)


def find_national_ids(text: str) -> list[Span]:
    """National identity, social security and tax numbers: after their label when its
    check digit holds, or alone when the shape and its check are rare enough."""
    if not words.has_digit(text):
        return []
    out: list[Span] = []
    keys = CUES.intersection(words.word_keys(text))
    if keys:
        # Only the labels whose first word is there are searched for (a small pattern
        # each): one pattern of every label costs ten times as much per position.
        for index in sorted({i for key in keys for i in _BY_KEY[key]}):
            for label in _LABEL_PATTERNS[index].finditer(text):
                span = _after_label(text, index, label.end())
                if span is not None:
                    out.append(span)
    if _SEVEN_DIGITS.match(text) is None:
        return out
    for m in _BARE.finditer(text):
        scheme = _BARE_SHAPES[int((m.lastgroup or "b0")[1:])][1]
        if _checked(scheme, m.group()):
            out.append(Span(m.start(), m.end(), cat.SSN))
    return out


def _after_label(text: str, index: int, end: int) -> Span | None:
    """The first number its label's schemes accept that starts within reach after it;
    after a label that names one kind alone, the first of that kind's exact shape."""
    lenient = _LABELS[index][2]
    limit = min(len(text), end + _REACH)
    stop = min(len(text), limit + _LONGEST)
    if _SIX_DIGITS.match(text, end, stop) is None:
        return None
    checked: Span | None = None
    shaped: Span | None = None
    for pattern, kinds in _LABEL_SHAPES[index]:
        m = pattern.search(text, end, stop)
        while m is not None and m.start() < limit:
            if m.end() == stop < len(text) and pattern.match(text, m.start()) is None:
                m = pattern.search(text, m.start() + 1, stop)  # cut short by ``stop``
                continue
            if shaped is None or (m.start(), -m.end()) < (shaped.start, -shaped.end):
                shaped = Span(m.start(), m.end(), cat.SSN)
            if any(_checked(scheme, m.group()) for scheme in kinds):
                if checked is None or m.start() < checked.start:
                    checked = Span(m.start(), m.end(), cat.SSN)
                break
            m = pattern.search(text, m.start() + 1, stop)
    return checked if checked is not None or not lenient else shaped
