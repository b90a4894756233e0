"""Health detectors: dates of birth, medical record numbers, ICD-10 codes, diagnoses and
medications, where a label or a clinical context says they are health data.

A date alone is not a birth date and a word like "asthma" alone is not a diagnosis: each
detector needs its label ("DOB", "Geburtsdatum", "MRN", "Dx:") or, for codes and terms, a
clinical cue in the same text ("patient", "diagnosis", "mg", "Rx", ...). Labels and
values may be separated as OCR gives them (several spaces, a colon, "no.", "#"), so the
screen scrub's lines ("Patient Ada Quill  MRN 48213377  DOB 1962-04-17") match too.
The diagnosis and medication names are data (``privacy/data/*.txt``), not code.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from importlib import resources

from privacy import categories as cat
from privacy import detect_words as words
from privacy.spans import Span

# --- dates of birth -----------------------------------------------------------------------

_MONTHS = (
    r"jan(?:uary|uar|vier|\.)?|feb(?:ruary|ruar|\.)?|f[ée]vr(?:ier|\.)?|m[aä]r(?:ch|z|s|\.)?"
    r"|apr(?:il|\.)?|avr(?:il|\.)?|ma[iy]|june?|juni|juin|jul(?:y|i|\.)?|juillet|aug(?:ust|\.)?"
    r"|ao[uû]t|sep(?:t(?:ember|embre)?|\.)?|o[ck]t(?:ober|obre|\.)?|nov(?:ember|embre|\.)?"
    r"|d[ea][cz](?:ember|embre|\.)?|enero|febrero|marzo|abril|mayo|junio|julio|agosto"
    r"|septiembre|setiembre|octubre|noviembre|diciembre|gennaio|febbraio|aprile|maggio"
    r"|giugno|luglio|settembre|ottobre|dicembre|januari|februari|maart|mei|augustus"
    r"|janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|novembro|dezembro"
)
_DATE = (
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"  # 1962-04-17
    r"|\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})"  # 17.04.1962, 04/17/62
    r"|\d{1,2}\.[ ]\d{1,2}\.[ ]?\d{4}"  # 22. 7. 1980 (Czech, Slovak, Polish spacing)
    r"|\d{1,2}(?:st|nd|rd|th|er|º|°)?\.?\s*(?:of\s+|de\s+)?(?:"
    + _MONTHS
    + r")\s*(?:de\s+)?\d{4}"  # 17. April 1962
    r"|(?:" + _MONTHS + r")\s*\d{1,2}(?:st|nd|rd|th)?,?\s*\d{4})"  # April 17, 1962
)
_DOB_LABEL = (
    r"(?:d\.?\s?o\.?\s?b\.?|d/o/b|date\s+of\s+birth|birth\s*date|born(?:\s+on)?|b\."
    r"|(?:my|his|her|their|our)\s+(?:birthday|b-?day)|(?:mein|sein|ihr)\s+geburtstag"
    r"|(?:mon|son)\s+anniversaire|(?:mi|su)\s+cumplea[ñn]os|(?:il\s+)?(?:mio|suo)\s+compleanno"
    r"|(?:mijn|zijn|haar)\s+verjaardag|(?:meu|seu)\s+anivers[áa]rio"
    r"|geburtsdatum|geb\.?-?datum|geb\.|geboren(?:\s+am)?|n[ée]e?\s+le|date\s+de\s+naissance"
    r"|fecha\s+de\s+nacimiento|f\.\s*nac\.?|fecha\s+(?:de\s+)?nac\.?|nacid[oa]\s+el|data\s+di\s+nascita|nat[oa]\s+il"
    r"|geboortedatum|geboren\s+op|data\s+de\s+nascimento|nascid[oa]\s+em|data\s+urodzenia"
    r"|f[öo]delsedatum|f[øo]dselsdato|syntym[äa]aika|doğum\s+tarihi"
    r"|datum\s+narozen[íi]|narozen[áa]?|ur\.|urodzon[ay]|f[öø]dd?\s+den|f[øo]dt|syntynyt"
    r"|nac[íi]\s+el|sono\s+nat[oa]\s+il|geb\.?\s+am)"
)
_DOB = re.compile(
    r"(?i)(?<![A-Za-z])"
    + _DOB_LABEL
    + r"[\s:=#.?\-–]{0,6}(?:(?:it'?s|it\s+is|is|was|ist|war|est|c'est|[ée]tait|es|era|è|é"
    r"|ligt\s+op)\s+"
    r"(?:on\s+|am\s+|le\s+|el\s+|il\s+)?|:\s*)?(" + _DATE + r")"
)
# Word beginnings one of the labels above holds (privacy.detect_words): a text without
# any is spared the full pattern.
DOB_CUES = words.cues(
    "dob d b birt born geb né née nee nais nac naci nasc nato nata urod föde føds fodd synt doğu"
    " bday b-da anni cump comp verj aniv birt naro ur urod född fodd født fodt"
)


# "Birthday: 03/04/1990", "Geburtstag 4. Mai 1987": a birthday word without "my" is
# also a party's date; a date after it is a birth date when its year is long past.
_BIRTHDAY = re.compile(
    r"(?i)(?<![A-Za-z])(?:birthday|b-?day|geburtstag|anniversaire|cumplea[ñn]os|compleanno"
    r"|verjaardag|anivers[áa]rio)[\s:=#.\-–]{0,6}(?:(?:is|ist|est|es|è|é)\s+)?(" + _DATE + r")"
)


# The date before the "born" word: "ich bin am 19. Juli 1975 geboren", "was 3 May 1970 born".
_BORN_AFTER = re.compile(
    r"(?i)(?<![A-Za-z])(?:am|on|le|el|il|op|em)?[ \t]*(" + _DATE + r")[ \t]+"
    r"(?:geboren|born|n[ée]e?|nacid[oa]|nat[oa]|nascid[oa])(?![A-Za-z])"
)


def find_dates_of_birth(text: str) -> list[Span]:
    """Dates written after a birth-date label, in several formats and languages."""
    if not words.has_digit(text) or not words.has_cue(text, DOB_CUES):
        return []
    out = [Span(m.start(1), m.end(1), cat.DATE_OF_BIRTH) for m in _DOB.finditer(text)]
    out += [Span(m.start(1), m.end(1), cat.DATE_OF_BIRTH) for m in _BORN_AFTER.finditer(text)]
    for m in _BIRTHDAY.finditer(text):
        year = _YEAR.search(m.group(1))
        if year is not None and OLDEST_BIRTH_YEAR <= int(year.group()) <= NEWEST_BIRTH_YEAR:
            out.append(Span(m.start(1), m.end(1), cat.DATE_OF_BIRTH))
    return out


# A date typed as a whole form field (between Tabs, or alone) with a year long past: in a
# form that is nearly always the birth date (the label is on screen, not typed).
_FIELD_DATE = re.compile(r"(?i)(?:^|\t)[ ]*(" + _DATE + r")[ ]*(?=\t|$)")
_YEAR = re.compile(r"(?:19|20)\d\d|\d\d$")
OLDEST_BIRTH_YEAR = 1900
NEWEST_BIRTH_YEAR = 2021
"""Years a form-field date is taken as a birth date between (a later year is a recent
date: an invoice, an appointment)."""


def find_birth_dates_in_fields(text: str) -> list[Span]:
    """Dates with a long-past year typed alone into a form field."""
    out: list[Span] = []
    if not words.has_digit(text):
        return out
    for m in _FIELD_DATE.finditer(text):
        year = _YEAR.search(m.group(1))
        if year is None:
            continue
        value = int(year.group())
        if len(year.group()) == 2:
            continue  # a two-digit year could be anything
        if OLDEST_BIRTH_YEAR <= value <= NEWEST_BIRTH_YEAR:
            out.append(Span(m.start(1), m.end(1), cat.DATE_OF_BIRTH))
    return out


# --- medical record numbers ---------------------------------------------------------------

_RECORD_LABEL = (
    r"(?:mrn|mr\s*#|medical\s+record(?:\s+(?:number|no\.?|nr\.?|#))?|med\.?\s*rec\.?|record\s+(?:number|no\.?|#)|patient\s*(?:id|identifier"
    r"|number|no\.?|#)|pt\.?\s*(?:id|#|no\.?)|chart\s*(?:number|no\.?|#)|hospital\s+(?:number|no\.?|nr\.?|#|id)"
    r"|health\s+(?:insurance\s+)?(?:card\s+)?(?:number|no\.?)|nhs(?:\s+(?:number|no\.?))?"
    r"|member\s+id|insurance\s+id|medicare(?:\s+number)?|medicaid(?:\s+id)?"
    r"|patient(?:en)?-?(?:nummer|nr\.?|id)|pat\.?-?(?:id|nr\.?)|fallnummer|fall-nr\.?"
    r"|kranken(?:versicherungs|versicherten|kassen)-?(?:nummer|nr\.?)|versichertennummer|sozialversicherungs(?:nummer|-?nr\.?)|svnr|sv-?nr\.?|versicherten-nr\.?|kv-?nr\.?|kvnr"
    r"|(?:n[°º]|num[ée]ro)\s+de\s+dossier(?:\s+(?:m[ée]dical|patient|du\s+patient|clinique))?"
    r"|dossier\s+(?:m[ée]dical|patient)"
    r"|(?:n[°º]|num[ée]ro)\s+de\s+s[ée]curit[ée]\s+sociale|nir"
    r"|historia\s+cl[íi]nica|n[úu]mero\s+de\s+historia|n[úu]mero\s+de\s+paciente"
    r"|cartella\s+clinica|numero\s+(?:di\s+)?(?:cartella|paziente)|tessera\s+sanitaria"
    r"|pati[ëe]ntnummer|pati[ëe]nt-?id|bsn|n[úu]mero\s+do\s+prontu[áa]rio|prontu[áa]rio"
    r"|(?:nr\.?|numer)\s+historii\s+choroby|journal(?:nummer|nr\.?)|patientjournal"
    r"|potilas(?:numero|tunnus)|(?:č[íi]slo\s+)?chorobopisu|hasta\s+(?:protokol|dosya)(?:\s+no)?)"
)
# Between label and value: punctuation, "no."/"#"/"is", and brackets ("Patient ID (MRN): ").
_RECORD_FILLER = (
    r"[\s:=#.\-–()\[\]]{0,6}(?:(?:n[°º]|n\.\s*[º°]?|no\.?|nr\.?|num(?:ber)?|#|is)[\s:=#.]{0,4})?"
)
# Digits, perhaps after a few letters and in groups ("48213377", "AB-123456", "943 476
# 5919", "1EG4-TE5-MK73"); a space only before a digit, so the next word is not taken.
_RECORD_VALUE = (
    r"((?=[A-Za-z0-9-]{0,4}\d)[A-Za-z0-9]{1,24}(?:(?:-|/)[A-Za-z0-9]{1,10}|[ ](?=\d)\d{1,10}){0,7})"
    r"(?![\w-])"
)
_RECORD = re.compile(r"(?i)(?<![A-Za-z])" + _RECORD_LABEL + _RECORD_FILLER + _RECORD_VALUE)
RECORD_CUES = words.cues(
    "mrn mr med medi reco rec pati pt char hosp heal nhs memb insu pat fall kran vers kv kvnr"
    " doss sécu secu soci nir hist núme nume cart pazi tess bsn pron sozi svnr sv jour poti"
    " chor čísl cisl hast"
)


def find_medical_records(text: str) -> list[Span]:
    """Medical record, patient and health insurance numbers after their label."""
    if not words.has_digit(text) or not words.has_cue(text, RECORD_CUES):
        return []
    out: list[Span] = []
    for m in _RECORD.finditer(text):
        value = m.group(1).rstrip(" -")
        if sum(ch.isdigit() for ch in value) >= 4:
            out.append(Span(m.start(1), m.start(1) + len(value), cat.MEDICAL_RECORD))
    return out


# --- ICD-10 codes, diagnoses and medications in a clinical context -------------------------

_CLINICAL = re.compile(
    r"(?i)\b(?:icd(?:-?1[01])?(?:-cm)?|dx|ddx|diagnos\w*|diagnós\w*|diagnostic\w*|assessment"
    r"|impression|patient\w*|pati[ëe]nt\w*|paciente|paziente|pt|hx|history\s+of|mrn|medical"
    r"|m[ée]dical\w*|m[ée]dico|clinic\w*|cl[íi]nic\w*|klinik\w*|befund|anamnese|ward|admitted"
    r"|admission|discharge\w*|entlassung|symptom\w*|s[íi]ntoma\w*|treatment|treated|therapy"
    r"|therapie|terapia|tratamiento|traitement|tratamento|behandlung|rx|meds?|medication\w*"
    r"|medikation|medikament\w*|m[ée]dicament\w*|medicamento\w*|farmac\w*|prescri\w*|rezept"
    r"|ordonnance|receta|dose|dosage|dosis|posologie|side\s+effects?|nebenwirkung\w*"
    r"|effets?\s+secondaires|efectos\s+secundarios|effetti\s+collaterali|allerg\w*"
    r"|suffers?\s+from|leidet|souffre|padece|soffre|on\s+(?:daily\s+)?\w+\s+since"
    r"|diagnosed|erkrankt|erkrankung|krankheit|maladie|enfermedad|malattia"
    r"|doctor|arzt|ärztin|m[ée]decin|gp|physician|nurse|hospital|krankenhaus|h[ôo]pital"
    r"|tablet\w*|tablette\w*|comprim[ée]\w*|capsule\w*|refill|t[äa]glich|bid|tid|qd|prn"
    r"|seen\s+for|follow-up|consult\w*|sprechstunde|onkolog\w*|oncolog\w*|psychiat\w*"
    r"|cardiolog\w*|kardiolog\w*|problem\s+list|active\s+problems|pmh|a/p|a&p|reason\s+for\s+visit"
    r"|vorerkrankung\w*|ant[ée]c[ée]dents?|antecedentes|rozpoznanie|diagn[óo]za|tan[ıi]|diagnoosi"
    r"|doc|lege|legen|huisarts|flare-?ups?|schub|pouss[ée]e|brote|referred|memory\s+clinic)\b"
    r"|\b\d+(?:[.,]\d+)?\s?(?:mg|mcg|µg|ug|ml|iu|ie|units?|einheiten|micrograms?|unit[àa])\b"
)
_STRONG_CLINICAL = re.compile(
    r"(?i)\b(?:icd|diagnosis|diagnose|diagnosed|diagnóstico|diagnosi|diagnostic"
    r"|patient\w*|pati[ëe]nt\w*|paciente|paziente|pt|mrn|assessment|discharge\w*"
    r"|entlassung\w*|befund|problem\s+list|pmh|a/p|a&p|rozpoznanie|diagn[óo]za|tan[ıi]|diagnoosi)\b"
)
# Word beginnings of the cues above (privacy.detect_words), dose units included.
CLINICAL_CUES = words.cues(
    "icd dx ddx diag asse impr pati pati paci pazi pt hx hist mrn medi médi clin clín klin befu"
    " anam ward admi disc entl symp sínt trea ther tera trat trai beha rx med meds farm pres"
    " reze ordo rece dos poso side nebe effe efec alle suff leid souf pade soff sinc erkr kran"
    " mala enfe doct arzt ärzt méde phys gp nurs hosp hôpi hopi tabl comp caps refi tägl tagl"
    " bid tid qd prn seen foll cons spre onko onco psyc card kard mg mcg µg ug ml iu ie unit"
    " einh prob pmh p reas vore anté ante rozp diag tan tanı doc lege huis flar schu pous micr"
    " brot refe memo"
)
# Where a drug, a condition or a code is about someone: a patient or record word, a person
# ("I", "my", "his", in several languages), a clinician acting on someone (prescribed,
# started, refill, referred), a dose schedule (bid, nightly, "2x daags", iltaisin) or a
# clinical record's own headings. Without one, a named drug or condition is reference text
# (a formulary, a guideline, a trial protocol, an inventory, a leaflet) about nobody.
_PERSONAL = re.compile(
    r"(?i)(?<![\w-])(?:pat\.|erh[äa]lt|erhielt|bekommt|re[çc]oit|recibe|riceve|krijgt|f[åa]r"
    r"|recebe|patient(?!s\b)\w*|pati[ëe]nt(?!en\b|s\b)\w*|paciente|paziente|pacjent\w*|potilas\w*"
    r"|pt|mrn|nhs|dob|hx|dx|ddx|rx|sig|chart|ward|bed|admitted|admission|discharge\w*"
    r"|entlassung|referred|seen\s+for|follow-up|diagnos\w*|diagnóstico|diagn[óo]za|rozpoznanie"
    r"|tan[ıi]|diagnoosi|assessment|impression|problem\s+list|active\s+problems|pmh|a/p|a&p"
    r"|history\s+of|suffers?|leidet|souffre|padece|soffre|allerg\w*"
    r"|i|i'm|i’m|i've|i’ve|me|my|mine|myself|he|she|his|her|him|hers|we|our|us|you|your"
    r"|ich|mir|mich|mein\w*|ihm|je|j'|moi|mon|ma|mes|elle"
    r"|yo|mi|mis|io|mio|mia|miei|mie|suo|sua|ik|mijn|zijn|haar|jeg|meg|mitt"
    r"|hans|hennes|jag|mig|eu|meu|minha|ele|ela|dele|dela|mój|moja|moje|mnie|já|můj"
    r"|ben|benim|minä|minun|doc|doctor|arzt|ärztin|m[ée]decin|m[ée]dico|huisarts|lege"
    r"|legen|gp|psychiatr\w*|physician|nurse|prescri\w*|verschrieb\w*|verordnet|voorgeschreven"
    r"|ordonn\w*|recet\w*|started|starting|continue|continuing|stopped|switched|taking"
    r"|takes|take|took|refill|repeat|nehme|nimmt|prends|prend|tomo|toma|prendo|prende|neem"
    r"|neemt|tomar|tomando|tomei|tô|estou|estoy|sto|pick\s+up|picked\s+up|abholen|ritirare"
    r"|recoger|r[ée]cup[ée]rer|buscar|alcohol|alkohol|alcool|[áa]lcool|pregnan\w*|schwanger\w*"
    r"|enceinte|embarazada|incinta|zwanger|pharmacy|farmacia|apotheke|pharmacie|apotheek|apotek"
    r"|flare-?ups?|schub"
    r"|pouss[ée]e|brote|terapia|tedavi|behandling|medikace|lääkitys|medicatie|zalecenia|medication"
    r"|medikation|meds|traitement|tratamiento|behandlung|side\s+effects?|nebenwirkung\w*"
    r"|effets?\s+secondaires|efectos\s+secundarios|effetti\s+collaterali"
    r"|bid|b\.i\.d|tid|qid|qd|qhs|od|bd|prn|nocte|mane|daily|nightly|twice|once|\d+\s?x"
    r"|t[äa]glich|morgens|abends|daags|rano|wieczorem|iltaisin|aamuisin|g[üu]nde|al\s+d[íi]a"
    r"|al\s+giorno|par\s+jour\s+pendant|every\s+\d+\s*h(?:ours)?|q\d+h|plan\s*:|procedere\s*:"
    # record headings and shorthand: routes, SOAP parts, ages, titles, findings
    r"|po|p\.o\.|iv|im|sc|sq|subcut|sl|inh|qam|qpm|q\.d\.|hpi|cc|ros|fhx|shx|s/p|c/o|y/o|yo"
    r"|\d+[ -]?(?:year[- ]old|jährige\w*|jähriger|ans|años|anni|jaar|j\.)|mr|mrs|ms|herr|frau"
    r"|mme|sr|sra|presents?|presented|presenting|complains?|reports|denies|tolerat\w*|hold"
    r"|held|discontinue\w*|d/c|increase[ds]?|decrease[ds]?|titrat\w*|taper\w*"
    r"|vitals|bp|hr|temp|befund\w*|anamnese|aufnahme|visit|consult\w*|klinik\w*|ambulanz"
    r"|(?:therapie|therapy|treatment|problem|background|current|ongoing|conditions?)\s*:"
    # medication-list words: a list of drugs is someone's
    r"|medications?|medikament\w*|dauermedikation|m[ée]dicaments?|medicamentos?|medicaci[óo]n"
    r"|medica[çc][ãa]o|farmaci|medicijnen|verordnung|verordnet|allergies|allergien|given"
    r"|administered|verabreicht|gegeben|administr[ée]e?|administrado|somministrat\w*|toegediend"
    r"|weekly|monthly|w[öo]chentlich|hebdomadaire|semanal|settimanale|wekelijks"
    # people and persons' shorthand: a case, a woman, "54M", a relative
    r"|case|woman|man|male|female|boy|girl|child|infant|baby|mother|father|wife|husband|son"
    r"|daughter|mum|mom|dad|sister|brother|frau|mann|kind|femme|homme|enfant|mujer|hombre"
    r"|niño|niña|donna|uomo|bambin[oa]|vrouw|\d{1,3}\s?[mfMF]|\d{1,3}\s?(?:yo|y\.o\.)|h/o"
    r"|pmhx|chief\s+complaint|comorbid\w*|known|nursing|pflege\w*"
    r"|at\s+(?:night|bedtime)|in\s+the\s+(?:morning|evening)|nachts|zur\s+nacht|le\s+soir"
    r"|au\s+coucher|por\s+la\s+(?:noche|mañana)|la\s+sera|'s\s+(?:avonds|ochtends)|\d+-\d+-\d+)(?![\w-])"
)
# The other end of a code range ("F00-F99", "E10-E14"), after the code or before it.
_CODE_RANGE = re.compile(r"[ \t]?[-–][ \t]?[A-TV-Z][0-9][0-9AB]\b")
_CODE_RANGE_END = re.compile(r"\b[A-TV-Z][0-9][0-9AB][ \t]?[-–][ \t]?\Z")
_ICD10 = re.compile(r"(?<![\w.])([A-TV-Z][0-9][0-9AB](?:\.[0-9A-Z]{1,4})?)(?![\w.]|\.\d)")
_DIAGNOSIS_PHRASE = re.compile(
    r"(?i)\b(?:dx|ddx|diagnosis|diagnoses|diagnose|diagnosen|diagnostic|diagnóstico|diagnosi"
    r"|diagnosed\s+with|assessment(?:\s+(?:and|&)\s+plan)?|impression|hx\s+of|history\s+of"
    r"|suffers\s+from|leidet\s+an|souffre\s+d[e']|padece\s+de|soffre\s+di"
    r"|problem\s+list|active\s+problems|pmh|past\s+medical\s+history|a/p|a&p"
    r"|reason\s+for\s+visit|vorerkrankungen|ant[ée]c[ée]dents|antecedentes"
    r"|motif\s+de\s+consultation|motivo\s+de\s+consulta|befund|rozpoznanie|diagn[óo]za"
    r"|tan[ıi]|tan[ıi]s[ıi]|diagnoosi|(?-i:Imp|IMP)(?=\s*:)|diagnostic\s+d[e']|diagn[óo]stico\s+de|diagnosi\s+di"
    r"|diagnose\s+(?:von|van|af))(?![\w/&])\s*[:\-–]?\s*"
    # a numbered list after the label ("A/P: 1. ...")
    r"(?:\d{1,2}[.)][ \t]*)?"
    r"((?=[^\W\d_])(?:[^\s.,;:()\[\]\t\n`'’\"]+(?:['’][^\s.,;:()\[\]\t\n`'’\"]+)*[ ]?){1,6})"
)
# What an ICD-10 code is followed by: " - description", ": description" (up to the end
# of the clause), as code lists and billing lines write it.
_ICD_DESCRIPTION = re.compile(
    r"[ \t]*[-–:][ \t]*((?=[^\W\d_])[^;|()\[\]\n\t]{1,80}?)[ \t.,]*"
    r"(?=[;|()\[\]\n\t]|\.[ \t]|[ \t][-–][ \t]|\Z)"
)
# A code with its decimal part followed by its description with only a space between
# ("F20.0 Paranoide Schizophrenie", "E11.9 type 2 diabetes, I10 ..."): up to a comma
# or the end of the clause.
_ICD_DESCRIPTION_BARE = re.compile(
    r"[ \t]+((?=[^\W\d_])[^,.;:|()\[\]\n\t]{1,60}?)[ \t]*"
    r"(?=[,.;:|()\[\]\n\t]|[ \t][-–][ \t]|\Z)"
)
_DOSE_AFTER = re.compile(
    r"(?i)\s*\d+(?:[.,]\d+)?(?:\s?/\s?\d+(?:[.,]\d+)?)*\s?(?:mg|mcg|µg|ug|ml|g|iu|ie|units?"
    r"|micrograms?|mikrogramm?|microgrammes?|microgramos?|microgrammi)\b"
)
# What follows a drug name and belongs to it: a release form ("ER", "retard") and the
# strength, combinations and per-volume forms included ("8 mg/2 mg", "200/300 mg",
# "18 units", "5 mg/ml", "0.5 %").
_UNIT = (
    r"(?:mg|mcg|µg|ug|g|ml|iu|ie|ui|units?|unit[ée]s?|einheiten|unidades|unit[àa]|eenheden"
    r"|micrograms?|mikrogramm?|microgrammes?|microgramos?|microgrammi"
    r"|%)"
)
_AMOUNT = r"\d+(?:[.,]\d+)?"
_MEDICATION_TAIL = re.compile(
    r"(?i)(?:[ \t]+(?:er|xr|xl|sr|cr|dr|la|ir|mr|odt|cd|retard|depot|forte|mite"
    r"|(?:extended|delayed|modified|sustained)[- ]release|long[- ]acting))?"
    r"[ \t]*"
    + _AMOUNT
    + r"(?:[ \t]?/[ \t]?"
    + _AMOUNT
    + r")*[ \t]?"
    + _UNIT
    + r"(?:[ \t]?/[ \t]?(?:"
    + _AMOUNT
    + r"[ \t]?)?(?:"
    + _UNIT
    + r"|h|hr|kg|dose|actuation|puff|spray|tab|tablet|cap|capsule))*(?![\w])"
)
# Between two drug names of one combination product ("buprenorphine/naloxone").
_COMBINATION = re.compile(r"[ \t]?[/+][ \t]?|-")
# A partner of a listed drug in a combination written with its strengths
# ("amoxicillin/clavulanate 875/125 mg"): taken with them, listed or not.
_PARTNER = re.compile(r"[ \t]?[/+][ \t]?[^\W\d_][\w-]{2,}")
# Endings of international non-proprietary names (WHO stems): a word ending so and taken
# with a dose, or in a clinical text, is a drug name the list may not hold yet.
_INN_STEM = re.compile(
    r"(?i)^[a-z]{3,}(?:pril|sartan|olol|dipine|statin|prazole|azole|oxetine|aline|triptan"
    r"|afil|xaban|gliptin|gliflozin|glutide|semide|thiazide|olone|asone|mab|tinib|cillin"
    r"|mycin|cycline|floxacin|ciclovir|vir|parin|dronate|tidine|azepam|zolam|pam|peridone"
    r"|apine|etine|ipramine|triptyline|codone|morphone|profen|fenac|setron|lukast|terol"
    r"|tropium|thyroxine)$"
)
_WORD = re.compile(r"[^\W\d_](?:[\w'’-]*\w)?")
# An elided article or preposition glued to the next word (French, Italian, Catalan).
_ELISION = re.compile(r"(?i)(?:[ldjmnst]|qu|dell|all|dall|nell|sull|un)['’](?=\w)")
_STOP_WORDS = (
    "the a an of on in and with for to is was no not none patient pt his her their daily "
    "bid tid start started stop continue mg per day week dose der die das und mit von le la "
    "les de du et avec el los las y con il lo e di con int float str bool number"
)
_STOP = frozenset(_STOP_WORDS.split())
# Words that may join diagnosis qualifiers ("... in partial remission", "with psychotic
# features") but do not end a run of them.
_CONNECTOR_WORDS = (
    "with without in of and mit ohne und avec sans et con sin y senza e zonder met en com sem de di"
)
_CONNECTORS = frozenset(_CONNECTOR_WORDS.split())
_QUALIFIER_WORD = re.compile(r"[^\W_][\w'’-]*")
# The stage, type or grade a word of the "stage" group takes ("stage 3a", "type II").
_STAGE_AFTER = re.compile(r"(?i)[ \t]+(?:\d{1,2}[a-e]?|[ivx]{1,4}[a-e]?|[a-e])(?![\w'’-])")
_NEXT_WORD = re.compile(r"[ \t]+([^\W_][\w'’-]*)")
_WORD_BEFORE = re.compile(r"([^\W\d_][\w-]*) \Z")
_STAGED_BEFORE = re.compile(
    r"(?<![\w-])([^\W\d_]+)[ \t]+(?:\d{1,2}[a-e]?|[IVX]{1,4}[a-e]?|[ivx]{1,3}) \Z"
)
_SEPARATOR = re.compile(r",[ \t]*|[ \t]+")
_GAP = re.compile(r"[ \t]+")


@cache
def _terms(name: str) -> tuple[frozenset[str], int]:
    """The terms in ``privacy/data/<name>`` (lower case) and the most words one has."""
    text = resources.files("privacy.data").joinpath(name).read_text(encoding="utf-8")
    terms = {
        " ".join(line.split()).lower()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    return frozenset(terms), max((t.count(" ") + 1 for t in terms), default=1)


@cache
def _qualifiers() -> tuple[frozenset[str], frozenset[str]]:
    """The qualifier words of ``privacy/data/qualifiers.txt`` (lower case), and those of
    them a number or roman numeral may follow ("stage 3", "type II")."""
    text = resources.files("privacy.data").joinpath("qualifiers.txt").read_text(encoding="utf-8")
    listed = [
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    staged = frozenset(w[:-1] for w in listed if w.endswith("+"))
    return frozenset(w.rstrip("+") for w in listed), staged


def _widen_diagnosis(text: str, span: Span) -> Span:
    """``span`` widened over the qualifiers right before it and after it, after commas
    too ("chronic hepatitis C", "opioid use disorder, severe", "CKD stage 3")."""
    qualifiers, staged = _qualifiers()
    start = span.start
    while True:
        m = _STAGED_BEFORE.search(text, max(0, start - 40), start)
        if m is not None and m.group(1).lower() in staged:
            start = m.start()  # "type 2 diabetes"
            continue
        m = _WORD_BEFORE.search(text, max(0, start - 40), start)
        if m is None or m.group(1).lower() not in qualifiers or m.group(1).lower() in staged:
            break
        start = m.start()
    end = span.end
    while True:
        sep = _SEPARATOR.match(text, end)
        if sep is None:
            break
        run = _qualifier_run(text, sep.end(), qualifiers, staged)
        if run == sep.end():
            break
        end = run
    return Span(start, end, span.category)


def _qualifier_run(text: str, pos: int, qualifiers: frozenset[str], staged: frozenset[str]) -> int:
    """Where the run of qualifier words from ``pos`` ends (``pos`` if there is none)."""
    end = pos
    while True:
        m = _QUALIFIER_WORD.match(text, pos)
        if m is None:
            break
        word = m.group().lower()
        value = _STAGE_AFTER.match(text, m.end()) if word in staged else None
        if value is not None:
            after = _NEXT_WORD.match(text, value.end())
            if after is not None and after.group(1).lower() not in qualifiers | _CONNECTORS:
                break  # "..., type 2 diabetes": the next diagnosis's own type
            end = pos = value.end()
        elif word in qualifiers:
            end = pos = m.end()
        elif word in _CONNECTORS:
            pos = m.end()
        else:
            break
        gap = _GAP.match(text, pos)
        if gap is None:
            break
        pos = gap.end()
    return end


def _widen_medications(text: str, spans: list[Span]) -> list[Span]:
    """Drug names joined into their combination ("emtricitabine/tenofovir") and widened
    over their release form and strength ("methylphenidate ER 36 mg")."""
    out: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and span.start < out[-1].end:
            if span.end > out[-1].end:
                out[-1] = Span(out[-1].start, span.end, span.category)
            continue
        joint = _COMBINATION.fullmatch(text, out[-1].end, span.start) if out else None
        if joint is not None:
            out[-1] = Span(out[-1].start, span.end, span.category)
        else:
            out.append(span)
    widened = []
    for span in out:
        end = span.end
        partner = _PARTNER.match(text, end)
        if partner is not None and _MEDICATION_TAIL.match(text, partner.end()):
            end = partner.end()
        m = _MEDICATION_TAIL.match(text, end)
        widened.append(Span(span.start, m.end() if m else end, span.category))
    return widened


def _term_spans(text: str, name: str, category: str) -> list[Span]:
    """Spans of the listed terms of ``name`` in ``text``, longest first at each word."""
    terms, longest = _terms(name)
    words = []
    for m in _WORD.finditer(text):
        elided = _ELISION.match(m.group())  # "l'insulina": the term starts after the article
        start = m.start() + (elided.end() if elided else 0)
        words.append((start, m.end(), text[start : m.end()].lower()))
    out: list[Span] = []
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            group = words[i : i + n]
            # Only words separated by single spaces or hyphens form one term.
            if any(text[a[1] : b[0]] not in (" ", "-") for a, b in itertools.pairwise(group)):
                continue
            phrase = text[group[0][0] : group[-1][1]].lower().replace("-", " ")
            if phrase in terms or " ".join(w[2] for w in group) in terms:
                out.append(Span(group[0][0], group[-1][1], category))
                i += n - 1
                break
        i += 1
    return out


# Someone saying a condition is theirs, in everyday words ("I've had migraine with aura",
# "my ulcerative colitis", "ich habe Asthma", "j'ai une sclérose en plaques"): a listed
# diagnosis within a few words after it is health data without any clinical word.
_OWN_CONDITION = re.compile(
    r"(?i)(?<![\w'’])(?:i\s+have|i['’]ve\s+(?:got|had|been\s+diagnosed\s+with)|i\s+had"
    r"|i\s+live\s+with|living\s+with|my|ich\s+habe?|hab|meine?[rmns]?|j['’]ai|mon|ma|tengo"
    r"|mi|ho|la\s+mia|il\s+mio|ik\s+heb|mijn|jeg\s+har|min|mitt|jag\s+har|tenho|meu|minha"
    r"|mam|moj[ae]|mój)(?:[ \t]+[^\W\d_]{1,12}){0,2}[ \t]+\Z"
)
OWN_CUES = words.cues(
    "i my ich hab mein j mon ma teng mi ho la il ik mijn jeg min mitt jag tenh meu minh mam moja"
    " moje mój livi"
)


@cache
def _term_keys(name: str) -> frozenset[str]:
    """The cue keys (privacy.detect_words) of the first words of the terms of ``name``."""
    return frozenset(
        key
        for term in _terms(name)[0]
        for word in [term.split()[0].replace("-", " ").split()[0]]
        for key in words.word_keys(word)
        if len(key) == min(4, len(word)) and len(key) >= 2  # a one-letter word is too common
    )


def _own_conditions(text: str) -> list[Span]:
    """Listed diagnoses someone calls their own (see _OWN_CONDITION)."""
    if not words.has_cue(text, _term_keys("diagnoses.txt")):
        return []  # no word begins like a listed diagnosis: spare the term scan
    return [
        _widen_diagnosis(text, s)
        for s in _term_spans(text, "diagnoses.txt", cat.DIAGNOSIS)
        if _OWN_CONDITION.search(text, max(0, s.start - 48), s.start)
    ]


def find_clinical_terms(text: str) -> list[Span]:
    """ICD-10 codes, diagnoses and medications in a text with a clinical cue."""
    if not words.has_cue(text, CLINICAL_CUES) or _CLINICAL.search(text) is None:
        return _own_conditions(text) if words.has_cue(text, OWN_CUES) else []
    out: list[Span] = []  # codes: never widened
    named: list[Span] = []  # phrases and terms: widened over their qualifiers
    strong = None
    labelled = False  # a diagnosis label or a specific (dotted) code: a record's line
    for m in _ICD10.finditer(text):
        if _CODE_RANGE.match(text, m.end(1)) or _CODE_RANGE_END.search(text, 0, m.start(1)):
            continue  # "F00-F99": a chapter of the classification, no one's diagnosis
        if "." not in m.group(1):
            # "B20", "I10": short enough to be a room, a seat or a model; taken only where
            # the text names a code, a diagnosis or a patient.
            if strong is None:
                strong = _STRONG_CLINICAL.search(text) is not None
            if not strong:
                continue
        out.append(Span(m.start(1), m.end(1), cat.DIAGNOSIS))
        labelled = labelled or "." in m.group(1)
        described = _ICD_DESCRIPTION.match(text, m.end(1))
        if described is None and "." in m.group(1):
            described = _ICD_DESCRIPTION_BARE.match(text, m.end(1))
        if described is not None and described.group(1).count(" ") < 10:
            named.append(Span(described.start(1), described.end(1), cat.DIAGNOSIS))
    not_findings = _terms("non_findings.txt")[0]
    for m in _DIAGNOSIS_PHRASE.finditer(text):
        phrase = m.group(1).rstrip()
        first = phrase.lower().split()[0]
        if first not in _STOP and first not in not_findings:
            named.append(Span(m.start(1), m.start(1) + len(phrase), cat.DIAGNOSIS))
            labelled = True
    if not labelled and _PERSONAL.search(text) is None:
        # A drug or condition named in reference text about no one (see _PERSONAL).
        return out + [_widen_diagnosis(text, s) for s in named]
    named += _term_spans(text, "diagnoses.txt", cat.DIAGNOSIS)
    out += [_widen_diagnosis(text, s) for s in named]
    drugs = _term_spans(text, "medications.txt", cat.MEDICATION)
    for m in _WORD.finditer(text):
        word = m.group()
        if word.lower() in _STOP or len(word) < 5:
            continue
        if _INN_STEM.match(word) or (
            _DOSE_AFTER.match(text, m.end()) and word[0].isalpha() and word.isalpha()
        ):
            drugs.append(Span(m.start(), m.end(), cat.MEDICATION))
    return out + _widen_medications(text, drugs)
