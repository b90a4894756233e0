"""Identity documents: passport and driver's-licence numbers after their label.

National formats differ too much (and most carry no check digit python-stdnum could
verify) for a bare number to be told from an order or ticket number, so the label is
what makes one: "passport no.", "Reisepassnummer", "numéro de passeport", "DL #",
"Führerscheinnummer", "permis de conduire", ... in several languages, then a value of
letters and digits holding at least two digits.
"""

from __future__ import annotations

import re

from privacy import categories as cat
from privacy import detect_words as words
from privacy.spans import Span

_FILLER = (
    r"[\s:=#.\-–]{0,6}(?:(?:n[°º]|n\.\s*[º°]?|no\.?|nr\.?|num(?:ber|[ée]ro)?|nummer|number\s+is|numaras[ıi]|nro"
    r"|is|ist|est|es|è|er|är|on|jest|je|#|mitt|min|my|mein|meine|mon|mi|mijn|meu|mój|moje)(?:(?<![A-Za-z])|(?![A-Za-z0-9]))[\s:=#.]{0,4}){0,3}"
)
# Letters and digits, in groups parted by a space before a digit or by a hyphen
# ("47829103-K": a Spanish licence is the holder's DNI with its check letter).
_VALUE = r"([A-Za-z0-9](?:[A-Za-z0-9]|[ ](?=\d)|[-/](?=[A-Za-z0-9])){4,17}[A-Za-z0-9])(?![\w-])"
_PASSPORT_LABEL = (
    r"(?:passport(?:\s*(?:number|no\.?|nr\.?|#|id))?|(?:reise)?pass(?:nummer|-?nr\.?)"
    r"|reisepass|passeport|(?:n[úu]mero\s+de\s+)?pasaporte|passaporto|paspoort(?:nummer)?"
    r"|passaporte|paszport|pass\s+nr\.?|(?:numer\s+)?paszportu|pasaport|pasnummer"
    r"|pass(?:in|nummer(?:et)?|numret)(?:\s+numero)?|(?:č[íi]slo\s+)?pasu|cestovn[íi]ho\s+pasu)"
)
_LICENCE_LABEL = (
    r"(?:driver'?s?\s+licen[cs]e|driving\s+licen[cs]e|drivers?\s+lic\.?|licen[cs]e\s+(?:number|no\.?)"
    r"|dl\s*(?:#|no\.?|number)|f[üu]hrerschein(?:nummer|-?nr\.?)?|permis\s+de\s+conduire"
    r"|num[ée]ro\s+de\s+permis|licencia\s+de\s+conduc(?:ir|ción)|carn[ée]\s+de\s+conducir"
    r"|permiso\s+de\s+conducir|patente(?:\s+di\s+guida)?|rijbewijs(?:nummer)?"
    r"|carteira\s+de\s+motorista|cnh|prawa?\s+jazdy|k[öo]rkort(?:snummer)?|ehliyet"
    r"|ajokortti|řidičsk[ée]ho\s+průkazu|førerkort)"
)
# Whose document it is, between label and value ("Pasnummer van mijn zoon: ...").
_WHOSE = (
    r"(?:[ \t]+(?:van|of|de|di|von|du|del|da)[ \t]+(?:mijn|my|mon|ma|mi|mia|mio|meine[rsm]?"
    r"|mein|his|her|sein\w*|ihr\w*)[ \t]+[^\W\d_]{2,12}(?=[ \t]*:))?"
)
_PASSPORT = re.compile(r"(?i)(?<![A-Za-z])" + _PASSPORT_LABEL + _WHOSE + _FILLER + _VALUE)
_LICENCE = re.compile(r"(?i)(?<![A-Za-z])" + _LICENCE_LABEL + _WHOSE + _FILLER + _VALUE)
# "DL" in capitals, perhaps after a US state or Canadian province code ("TX DL 38192047"),
# then a number of six digits at least (a Delta flight, "DL 1234", has four at most).
_STATE_DL = re.compile(
    r"(?<![A-Za-z])(?:[A-Z]{2}[ -]?)?DL(?:[ \t]*[#:.]|[ \t]*(?:no\.?|nr\.?|number)?)[ \t]*" + _VALUE
)
CUES = words.cues(
    "pass reis pasa pasp pasz pass lice lic dl führ fuhr perm núme nume lice carn conc cond"
    " pasn pate rijb moto cnh praw körk kork driv čísl cisl cest ehli ajok řidi ridi føre"
)


def _values(pattern: re.Pattern[str], text: str, category: str) -> list[Span]:
    out: list[Span] = []
    for m in pattern.finditer(text):
        value = m.group(1)
        digits = sum(ch.isdigit() for ch in value)
        # Some national passport numbers are all letters (German ones may be): nine
        # capitals after the label are taken too.
        if digits >= 1 or (len(value) == 9 and value.isupper()):
            out.append(Span(m.start(1), m.end(1), category))
    return out


def find_identity_documents(text: str) -> list[Span]:
    """Passport and driver's-licence numbers written after their label."""
    if not words.has_cue(text, CUES):
        return []
    out = _values(_PASSPORT, text, cat.PASSPORT) + _values(_LICENCE, text, cat.DRIVERS_LICENCE)
    if "DL" in text:
        out += [
            Span(m.start(1), m.end(1), cat.DRIVERS_LICENCE)
            for m in _STATE_DL.finditer(text)
            if sum(ch.isdigit() for ch in m.group(1)) >= 6
        ]
    return out
