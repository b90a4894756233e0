"""Generate the realistic typing corpus (issue 20): two splits, tuning and held-out.

Written before any detector rule of issue 20, and unlike the older corpus one directory
up: chat, e-mail, forms, shell, code, notes, search boxes and clinical notes, in several
languages, each row a whole line as a person types it, with the spans of every secret
or identifier it holds (``[start, end, category]``) and tricky negatives that hold
none. The two splits share no sentence template: each scenario's templates are dealt
to one split or the other, so a rule fitted to a tuning sentence cannot match a held-out
one. The held-out split is never tuned on (docs/PRIVACY.md reports both).

Everything is FAKE: cards use test BINs with a computed Luhn digit, SSNs, IBANs, NIRs,
NHS and KVNR numbers are random with their check digits computed, e-mail addresses are at
reserved example domains, phone numbers in fictional ranges, passwords and tokens
random, names invented.

    .venv/bin/python tests/privacy_corpus/realistic/generate.py

tuning.jsonl / heldout.jsonl rows: ``{"text", "scenario", "lang", "spans": [[s, e, cat]],
"pauses": [offset]}`` (a negative has no spans and a ``kind``). ``"\\b"`` in a text is a
Backspace press; a pause offset is where the typist stops for longer than the idle gap
(the text buffer releases what it holds there) before typing the character at it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import string
import uuid
from collections.abc import Callable
from pathlib import Path

from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.fr import nir as stdnum_nir
from stdnum.gb import nhs as stdnum_nhs

HERE = Path(__file__).parent
SEEDS = {"tuning": 2026_12_07, "heldout": 7_12_2026}
POSITIVE_ROWS = 900
NEGATIVE_ROWS = 750

rng = random.Random(0)
B62 = string.ascii_letters + string.digits

# --- fake values --------------------------------------------------------------------------

FIRST = ["Ada", "Bram", "Chiara", "Dmitri", "Elif", "Fenna", "Goran", "Hana", "Ines", "Jules"]
FIRST += ["Kofi", "Lotte", "Mateo", "Nour", "Oskar", "Priya", "Quentin", "Rosa", "Soren", "Tomas"]
LAST = ["Quill", "Varga", "Okafor", "Lindqvist", "Moreau", "Brandt", "Ferreira", "Kowal"]
LAST += ["Sato", "Haddad", "Novak", "Rinaldi", "Dubois", "Castillo", "Jansen", "Petrov"]
WORDS = ["tulip", "granite", "saffron", "harbour", "violet", "cinder", "marble", "falcon"]
WORDS += ["pepper", "comet", "juniper", "otter", "lagoon", "thistle", "basalt", "nimbus"]


def name() -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def rand(alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def password() -> str:
    """A password as people choose them: word-based, random, or a passphrase."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(WORDS).capitalize() + rng.choice("!$%&*#?") + str(rng.randint(1, 2030))
    if kind == 1:
        while True:
            s = rand(B62 + "!#%&*+-=?@^_", rng.randint(10, 18))
            if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
                return s
    if kind == 2:
        return str(rng.randint(1, 99)) + rng.choice(WORDS) + rng.choice(WORDS).upper()[:3] + "!"
    if kind == 3:
        w = rng.choice(WORDS)
        return w[0].upper() + w[1:].replace("a", "@").replace("o", "0") + str(rng.randint(0, 99))
    if kind == 4:
        return rand(string.ascii_lowercase, 4) + str(rng.randint(1000, 99999)) + rand("!?#", 1)
    return rand(B62, rng.randint(8, 14)) + str(rng.randint(0, 9))


def card() -> str:
    bins = {16: ["411111", "424242", "555555", "510510", "222300", "601111", "353011"]}
    bins[15] = ["378282", "371449"]
    length = rng.choice([16, 16, 16, 15])
    body = rng.choice(bins[length]) + rand(string.digits, length - 7)
    digits = body + luhn.calc_check_digit(body)
    style = rng.choice(["plain", "space", "dash"])
    if style == "plain":
        return digits
    sep = " " if style == "space" else "-"
    if length == 15:
        return sep.join((digits[:4], digits[4:10], digits[10:]))
    return sep.join(digits[i : i + 4] for i in range(0, 16, 4))


def ssn() -> str:
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def iban() -> str:
    shapes = {"DE": "d18", "FR": "d10a11d2", "ES": "d20", "IT": "A1d10a12", "NL": "A4d10"}
    shapes |= {"GB": "A4d14", "BE": "d12", "AT": "d16"}
    while True:
        country = rng.choice(list(shapes))
        bban = ""
        for kind, count in re.findall(r"([dAa])(\d+)", shapes[country]):
            alphabet = {"d": string.digits, "A": string.ascii_uppercase}.get(kind, UD)
            bban += rand(alphabet, int(count))
        number = country + stdnum_iban.calc_check_digits(country + "00" + bban) + bban
        if stdnum_iban.is_valid(number):
            if rng.random() < 0.5:
                return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
            return number


UD = string.ascii_uppercase + string.digits


def email() -> str:
    first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower()
    local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}_{rng.randint(1, 99)}"])
    domain = rng.choice(["example.com", "example.org", "example.net", "mail.example.de"])
    return f"{local}@{domain}"


def phone() -> str:
    kind = rng.randrange(5)
    n = rng.randint(0, 99)
    if kind == 0:
        return f"(202) 555-01{n:02d}"
    if kind == 1:
        return f"+1 312 555 01{n:02d}"
    if kind == 2:
        return f"07700 900{rng.randint(0, 999):03d}"
    if kind == 3:
        return f"+44 20 7946 0{rng.randint(0, 999):03d}"
    return f"+49 30 {rng.randint(200, 999)} {rng.randint(1000, 9999)}"


def token() -> tuple[str, str]:
    kind = rng.randrange(6)
    if kind == 0:
        return "ghp_" + rand(B62, 36), "github_token"
    if kind == 1:
        return "AKIA" + rand(UD, 16), "aws_key"
    if kind == 2:
        return f"xoxb-{rng.randint(10**10, 10**11)}-{rand(B62, 24)}", "slack_token"
    if kind == 3:
        return "sk_live_" + rand(B62, 24), "stripe_key"
    if kind == 4:
        return "glpat-" + rand(B62 + "-_", 20), "api_token"
    return "sk-proj-" + rand(B62, 40), "api_token"


def birth_date(lang: str) -> str:
    y, m, d = rng.randint(1931, 2012), rng.randint(1, 12), rng.randint(1, 28)
    months = {
        "en": ["January", "February", "March", "April", "May", "June", "July", "August"],
        "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August"],
        "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août"],
        "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto"],
        "it": ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto"],
    }
    style = rng.randrange(5)
    if style == 0:
        return f"{y}-{m:02d}-{d:02d}"
    if style == 1:
        return f"{m:02d}/{d:02d}/{y}" if lang == "en" else f"{d:02d}/{m:02d}/{y}"
    if style == 2:
        return f"{d:02d}.{m:02d}.{y}" if lang != "en" else f"{m}/{d}/{str(y)[2:]}"
    names = months.get(lang, months["en"])
    month = names[(m - 1) % len(names)]
    if style == 3:
        return f"{month} {d}, {y}" if lang == "en" else f"{d} {month} {y}"
    return f"{d} {month} {y}" if lang != "de" else f"{d}. {month} {y}"


def mrn() -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return str(rng.randint(10**6, 10**9))
    if kind == 1:
        return f"{rand(string.ascii_uppercase, 2)}{rng.randint(10**5, 10**7)}"
    if kind == 2:
        return f"{rng.randint(100, 999)}-{rng.randint(100, 999)}-{rng.randint(100, 999)}"
    return f"{rng.randint(10**7, 10**8)}"


def nhs() -> str:
    while True:
        number = rand(string.digits, 10)
        if stdnum_nhs.is_valid(number):
            return f"{number[:3]} {number[3:6]} {number[6:]}"


def nir() -> str:
    while True:
        body = f"{rng.randint(1, 2)}{rng.randint(30, 99):02d}{rng.randint(1, 12):02d}"
        body += f"{rng.randint(1, 95):02d}{rng.randint(1, 990):03d}{rng.randint(1, 999):03d}"
        number = body + stdnum_nir.calc_check_digits(body)
        if stdnum_nir.is_valid(number):
            return number


def kvnr() -> str:
    """A German health insurance number: letter, 8 digits, a check digit (fake)."""
    letter = rng.choice(string.ascii_uppercase)
    digits = rand(string.digits, 8)
    raw = f"{string.ascii_uppercase.index(letter) + 1:02d}" + digits
    total = 0
    for i, ch in enumerate(raw):
        p = int(ch) * (1 if i % 2 == 0 else 2)
        total += p // 10 + p % 10
    return letter + digits + str(total % 10)


def icd10() -> str:
    return rng.choice(ICD10)


ICD10 = ["E11.9", "I10", "J45.909", "F32.1", "F41.1", "M54.5", "K21.9", "E78.5", "N39.0"]
ICD10 += ["C50.911", "G43.909", "F33.2", "I25.10", "J44.1", "E03.9", "B20", "O24.419", "F10.20"]
DIAGNOSES = {
    "en": ["type 2 diabetes", "major depressive disorder", "generalized anxiety disorder"],
    "de": ["Diabetes mellitus Typ 2", "Depression", "Bluthochdruck", "Asthma bronchiale"],
    "fr": ["diabète de type 2", "dépression", "hypertension artérielle", "asthme"],
    "es": ["diabetes tipo 2", "depresión", "hipertensión", "trastorno de ansiedad"],
    "it": ["diabete di tipo 2", "depressione", "ipertensione", "disturbo d'ansia"],
}
DIAGNOSES["en"] += ["hypertension", "asthma", "bipolar disorder", "HIV", "breast cancer"]
DIAGNOSES["en"] += ["migraine", "COPD", "schizophrenia", "hypothyroidism", "epilepsy"]
DIAGNOSES["de"] += ["Brustkrebs", "Migräne", "Epilepsie", "Angststörung"]
MEDICATIONS = ["metformin", "sertraline", "lisinopril", "atorvastatin", "levothyroxine"]
MEDICATIONS += ["fluoxetine", "insulin glargine", "amlodipine", "quetiapine", "lithium"]
MEDICATIONS += ["omeprazole", "salbutamol", "methotrexate", "escitalopram", "tamoxifen"]


def dose() -> str:
    return rng.choice(["500 mg", "50 mg", "10 mg", "20mg", "100 mcg", "2x täglich", "1-0-1"])


def passport() -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return rand(string.digits, 9)  # US, UK
    if kind == 1:
        return "C" + rand("CFGHJKLMNPRTVWXYZ0123456789", 8)  # DE
    if kind == 2:
        return rand(string.digits, 2) + rand(string.ascii_uppercase, 2) + rand(string.digits, 5)
    return rand(string.ascii_uppercase, 3) + rand(string.digits, 6)  # ES, IT style


def licence() -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return rand(string.ascii_uppercase, 1) + rand(string.digits, 7)  # CA
    if kind == 1:
        return rand(string.digits, 9)  # NY
    if kind == 2:  # UK DVLA: surname, birth digits, initials, check
        last = (rng.choice(LAST).upper() + "99999")[:5]
        return last + rand(string.digits, 6) + rand(string.ascii_uppercase, 2) + "9" + rand(UD, 2)
    return rand(UD, 11)  # DE


# --- templates ----------------------------------------------------------------------------
# A template holds fields {kind}; each kind maps to a value maker and its category (None:
# filler that is not sensitive). Templates are dealt to the splits by position (even to
# tuning, odd to held-out), so the two splits never share a sentence.

Maker = Callable[[str], tuple[str, str | None]]


def _plain(f: Callable[[], str], category: str | None) -> Maker:
    return lambda lang: (f(), category)


MAKERS: dict[str, Maker] = {
    "name": _plain(name, None),
    "first": _plain(lambda: rng.choice(FIRST), None),
    "pw": _plain(password, "password"),
    "card": _plain(card, "payment_card"),
    "ssn": _plain(ssn, "ssn"),
    "iban": _plain(iban, "iban"),
    "email": _plain(email, "email"),
    "phone": _plain(phone, "phone"),
    "token": lambda lang: token(),
    "dob": lambda lang: (birth_date(lang), "date_of_birth"),
    "mrn": _plain(mrn, "medical_record"),
    "nhs": _plain(nhs, "medical_record"),
    "nir": _plain(nir, "medical_record"),
    "kvnr": _plain(kvnr, "medical_record"),
    "icd": _plain(icd10, "diagnosis"),
    "dx": lambda lang: (rng.choice(DIAGNOSES.get(lang, DIAGNOSES["en"])), "diagnosis"),
    "med": _plain(lambda: rng.choice(MEDICATIONS), "medication"),
    "dose": _plain(dose, None),
    "passport": _plain(passport, "passport"),
    "licence": _plain(licence, "drivers_licence"),
    "user": _plain(lambda: rng.choice(FIRST).lower()[:1] + rng.choice(LAST).lower(), None),
    "date": _plain(lambda: f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", None),
    "n": _plain(lambda: str(rng.randint(2, 60)), None),
    "word": _plain(lambda: rng.choice(WORDS), None),
}

# (scenario, lang, template). A "~" after a field name (e.g. {pw~}) types that value in
# two parts with a pause between; a "!" types it with a typo corrected by Backspace.
POSITIVE_TEMPLATES: list[tuple[str, str, str]] = [
    # chat
    ("chat", "en", "hey {first}, wifi pw is {pw} btw"),
    ("chat", "en", "ok the new password for the shared account is {pw} dont lose it"),
    ("chat", "en", "login {user} / {pw}"),
    ("chat", "en", "can u try {pw} as the password? i reset it this morning"),
    ("chat", "en", "my new password is {pw~}"),
    ("chat", "en", "pw: {pw!}"),
    ("chat", "de", "das neue Passwort ist {pw}"),
    ("chat", "de", "Passwort: {pw} (bitte nicht weitersagen)"),
    ("chat", "fr", "le mot de passe du wifi c'est {pw}"),
    ("chat", "fr", "mot de passe : {pw~}"),
    ("chat", "es", "la contraseña es {pw}"),
    ("chat", "es", "contraseña: {pw!} ya la cambié"),
    ("chat", "it", "la password nuova è {pw}"),
    ("chat", "nl", "het wachtwoord is {pw}"),
    ("chat", "en", "call me on {phone} when you land"),
    ("chat", "en", "text {phone} if the door code does not work"),
    ("chat", "en", "my card is {card} can you book it"),
    ("chat", "en", "use {card~} for the flights"),
    ("chat", "de", "ruf mich an unter {phone}"),
    ("chat", "en", "here is the token {token} for the ci runner"),
    ("chat", "en", "send it to {email} pls"),
    ("chat", "pt", "a senha é {pw}"),
    # e-mail bodies
    ("email", "en", "Hi {first},\nyour temporary password is {pw} and expires in 24 hours."),
    ("email", "en", "Dear {name}, please transfer the deposit to {iban} by Friday."),
    ("email", "en", "Please update my direct debit to IBAN {iban}. Thanks, {first}"),
    ("email", "en", "You can reach me at {email} or on {phone}."),
    ("email", "en", "For the payroll form my SSN is {ssn}."),
    ("email", "de", "Hallo {first},\ndas Kennwort für den Server lautet {pw}."),
    ("email", "de", "Bitte überweisen Sie den Betrag auf {iban}."),
    ("email", "fr", "Bonjour, voici mon IBAN : {iban}"),
    ("email", "fr", "Votre nouveau mot de passe est {pw}"),
    ("email", "es", "Mi número de pasaporte es {passport}, caduca en 2029."),
    ("email", "en", "Attached the visa form, passport no. {passport}, issued 2021."),
    ("email", "en", "My driver's license number is {licence} if the rental desk asks."),
    ("email", "de", "Meine Reisepassnummer: {passport}"),
    ("email", "it", "il mio numero di passaporto è {passport}"),
    ("email", "en", "Credentials for staging: user {user} password {pw}"),
    # forms (typed field by field, Tab between)
    ("form", "en", "{name}\t{email}\t{phone}\t{dob}\t{card}"),
    ("form", "en", "{name}\tDate of birth: {dob}\tSSN {ssn}"),
    ("form", "en", "{first}\t{ssn}\t{card}\t{iban}"),
    ("form", "de", "{name}\tGeburtsdatum {dob}\t{iban}"),
    ("form", "fr", "{name}\tné le {dob}\tn° de sécurité sociale {nir}"),
    ("form", "es", "{name}\tfecha de nacimiento {dob}\t{email}"),
    ("form", "en", "Passport number\t{passport}\tDriver licence\t{licence}"),
    ("form", "en", "card number {card}\texpiry 09/29\tname {name}"),
    ("form", "de", "Führerscheinnummer {licence}\tKrankenversicherungsnummer {kvnr}"),
    ("form", "it", "{name}\tdata di nascita {dob}\tpassaporto n. {passport}"),
    # shell
    ("shell", "en", "curl -u {user}:{pw} https://ci.example.com/api"),
    ("shell", "en", "export GITHUB_TOKEN={token}"),
    ("shell", "en", "mysql -u root -p{pw} prod"),
    ("shell", "en", "echo '{pw}' | sudo -S systemctl restart nginx"),
    ("shell", "en", "git remote add origin https://{user}:{pw}@git.example.com/x.git"),
    ("shell", "en", "psql postgresql://app:{pw}@db.example.net:5432/app"),
    ("shell", "en", "htpasswd -b .htpasswd {user} {pw}"),
    ("shell", "en", "aws configure set aws_access_key_id {token}"),
    # code
    ("code", "en", 'DB_PASSWORD = "{pw}"'),
    ("code", "en", "const apiKey = '{token}';"),
    ("code", "en", 'client = Client(token="{token}")'),
    ("code", "en", "password: {pw}"),
    ("code", "en", 'headers = {{"Authorization": "Bearer {token}"}}'),
    ("code", "en", "smtp_pass={pw}"),
    ("code", "en", "conn = connect(user='{user}', passwd='{pw}')"),
    ("code", "en", "# TODO remove: test card {card}"),
    # notes
    ("notes", "en", "bank: {iban}, card {card}, online pw {pw}"),
    ("notes", "en", "router admin / {pw}"),
    ("notes", "en", "{first}'s passport {passport} expires next year"),
    ("notes", "de", "Notiz: PIN der Karte ist 4821, Passwort {pw}"),
    ("notes", "en", "mom dob {dob}, NHS {nhs}"),
    ("notes", "fr", "passeport {passport}, permis de conduire {licence}"),
    ("notes", "en", "gym locker code and email pass: {pw}"),
    ("notes", "en", "new laptop login: {user} {pw}"),
    # search boxes
    ("search", "en", "{email}"),
    ("search", "en", "who called me from {phone}"),
    ("search", "en", "{icd} icd 10 code meaning"),
    ("search", "en", "{med} {dose} side effects"),
    ("search", "en", "check iban {iban}"),
    ("search", "de", "{med} Nebenwirkungen"),
    # clinical notes
    ("clinical", "en", "Patient {name}  MRN {mrn}  DOB {dob}"),
    ("clinical", "en", "Pt {name}, DOB: {dob}, MRN: {mrn}. Dx: {dx} ({icd})."),
    ("clinical", "en", "Assessment: {dx}. Plan: start {med} {dose} daily."),
    ("clinical", "en", "Diagnosis: {icd} {dx}"),
    ("clinical", "en", "Rx {med} {dose} bid, refill x3"),
    ("clinical", "en", "Hx of {dx}, currently on {med}."),
    ("clinical", "en", "patient id {mrn} born {dob} seen for follow-up of {dx}"),
    ("clinical", "en", "Medical record number: {mrn}"),
    ("clinical", "en", "NHS number {nhs}, date of birth {dob}"),
    ("clinical", "en", "Discharge dx {icd}; meds: {med} {dose}, {med} {dose}"),
    ("clinical", "en", "ICD-10: {icd}"),
    ("clinical", "en", "diagnosed with {dx} in 2019, on {med} since"),
    ("clinical", "de", "Patient {name}, geb. {dob}, Diagnose: {dx} ({icd})"),
    ("clinical", "de", "Geburtsdatum: {dob}  Patientennummer: {mrn}"),
    ("clinical", "de", "Medikation: {med} {dose}"),
    ("clinical", "de", "KV-Nr. {kvnr}, Diagnose {icd}"),
    ("clinical", "fr", "Patient né le {dob}, diagnostic : {dx}"),
    ("clinical", "fr", "N° de dossier {mrn}, traitement : {med} {dose}"),
    ("clinical", "es", "Paciente {name}, fecha de nacimiento {dob}, diagnóstico: {dx}"),
    ("clinical", "es", "Historia clínica n.º {mrn}, tratamiento con {med}"),
    ("clinical", "it", "Paziente nato il {dob}, diagnosi: {dx}, terapia: {med} {dose}"),
    ("clinical", "it", "cartella clinica {mrn}, data di nascita {dob}"),
    ("clinical", "nl", "geboortedatum {dob}, patiëntnummer {mrn}"),
    ("clinical", "en", "D.O.B. {dob}  Pt ID {mrn}  Allergies: none"),
    ("email", "es", "Hola {first}, tu clave nueva: {pw~}"),
    ("chat", "en", "new pass {pw!} (changed it after the breach)"),
    ("notes", "nl", "wachtwoord mail: {pw!}"),
    ("chat", "de", "Kennwort ist {pw~}"),
    ("form", "pt", "{name}\tdata de nascimento {dob}\t{email}"),
    ("chat", "nl", "mijn nieuwe wachtwoord: {pw}"),
    ("chat", "en", "card {card!} exp 11/28"),
    ("notes", "pt", "senha do banco: {pw~}"),
]

NEGATIVE_TEMPLATES: list[tuple[str, str, str]] = [
    ("chat", "base64_data", "data:image/png;base64,{b64img}"),
    ("code", "base64_data", '<img src="data:image/jpeg;base64,{b64img}">'),
    ("code", "base64_data", "background: url(data:image/svg+xml;base64,{b64img});"),
    ("code", "base64_data", '"thumbnail": "data:image/webp;base64,{b64img}",'),
    ("shell", "public_key", "ssh-ed25519 {ed25519} {user}@laptop"),
    ("notes", "public_key", "{ed25519pub}"),
    ("shell", "public_key", "age -r {age1} -o backup.tar.age backup.tar"),
    ("notes", "public_key", "recipient: {age1}"),
    ("email", "public_key", "{pgp_public}"),
    ("shell", "public_key", "ssh-rsa {rsa} {user}@build-7"),
    ("shell", "hash", "sha256sum: {sha256}  release.tar.gz"),
    ("notes", "hash", "{sha256}"),
    ("chat", "hash", "the sha1 is {sha1}"),
    ("shell", "hash", "echo '{sha256}  app.iso' | sha256sum -c"),
    ("code", "hash", 'integrity="sha384-{sri}"'),
    ("shell", "hash", "docker pull registry.example.com/app@sha256:{sha256}"),
    ("shell", "commit", "git show {sha1}"),
    ("shell", "commit", "git cherry-pick {short}"),
    ("chat", "commit", "fixed in {short}, please rebase"),
    ("email", "commit", "Reverts commit {sha1}."),
    ("shell", "commit", "git rebase -i {short}~3"),
    ("code", "uuid", 'request_id = "{uuid}"'),
    ("shell", "uuid", "kubectl delete pod worker-{uuid}"),
    ("chat", "uuid", "ticket {uuid} is stuck again"),
    ("search", "uuid", "{uuid}"),
    ("shell", "version", "pip install fastapi=={version}"),
    ("chat", "version", "we are on {version} now, {version} next week"),
    ("code", "version", '"version": "{version}",'),
    ("shell", "version", "docker run node:{version}-alpine"),
    ("shell", "shell", "kubectl -n {word}-prod get pods -o wide | grep CrashLoop"),
    ("shell", "shell", "find . -name '*.py' -newer setup.cfg -exec ruff check {{}} +"),
    ("shell", "shell", "tar -czf {word}-{date}.tgz ./data && scp {word}-{date}.tgz backup:"),
    ("shell", "shell", "ssh -p 2222 {user}@10.0.3.17 'df -h /var'"),
    ("shell", "shell", "openssl rand -hex 32 > key.bin"),
    ("shell", "shell", "passwd {user}"),
    ("shell", "shell", "export PATH=$HOME/.local/bin:$PATH"),
    ("code", "identifier", "def validate_password_strength(password: str) -> bool:"),
    ("code", "identifier", "resetPasswordTokenExpiryMs = 3600000"),
    ("code", "identifier", "if (!user.passwordHash) throw new AuthError('missing');"),
    ("code", "identifier", "const patientIdColumn = row.getPatientRecordNumberV2();"),
    ("code", "identifier", "SELECT dob, mrn FROM patients WHERE clinic_id = ?"),
    ("code", "identifier", "icd10_code = models.CharField(max_length=8)"),
    ("code", "url", "https://docs.example.com/api/v2/users?page=3&sort=created_at"),
    ("search", "url", "https://www.example.org/search?q={word}+recipe&utm_source=news"),
    ("chat", "url", "see https://github.com/example/{word}/pull/{n}#discussion_r1234567"),
    ("email", "url", "https://cdn.example.net/assets/{word}.{short}.js"),
    ("chat", "prose", "I forgot my password again, can you send the reset link?"),
    ("chat", "prose", "the password is in the team vault under {word}"),
    ("email", "prose", "Passwords must be at least 12 characters long."),
    ("chat", "prose", "mot de passe oublié, je redemande un lien"),
    ("chat", "prose", "hab mein Passwort vergessen, kannst du es zurücksetzen?"),
    ("chat", "prose", "¿dónde guardaste la contraseña del router?"),
    ("notes", "prose", "change password every 90 days (policy {n})"),
    ("chat", "prose", "born in the summer, my birthday is next week"),
    ("email", "prose", "Meeting moved to {date} at 10:30, room {n}."),
    ("clinical", "clinical", "Vitals stable, afebrile. Follow-up in {n} weeks."),
    ("clinical", "clinical", "Patient ambulating, tolerating diet, no complaints."),
    ("clinical", "clinical", "BP 128/82, HR {n}, SpO2 98 % on room air."),
    ("notes", "numbers", "order {n}-{n}-{n} shipped, tracking 1Z999AA10123456784"),
    ("notes", "numbers", "invoice 2026-{n} total 1,284.50 EUR due {date}"),
    ("email", "numbers", "ISBN 978-3-16-148410-0, page {n}"),
    ("form", "numbers", "{date}\t{n}\t42.50"),
    ("search", "search", "best {word} restaurants near me"),
    ("search", "search", "how to reset router password"),
    ("search", "search", "icd 10 code list pdf"),
    ("code", "hash", "commit_sha: {sha1}"),
    ("chat", "public_key", "my age key is {age1}"),
    ("notes", "prose", "Geburtstag von {first} nicht vergessen!"),
    ("code", "base64_data", "icon = base64.b64decode('{b64img}')"),
]


def b64img() -> str:
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(30, 120))).decode()


def ed25519() -> str:
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + rng.randbytes(32)
    return base64.b64encode(blob).decode()


def rsa() -> str:
    blob = b"\x00\x00\x00\x07ssh-rsa\x00\x00\x00\x03\x01\x00\x01\x00\x00\x01\x01" + rng.randbytes(
        120
    )
    return base64.b64encode(blob).decode()


BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def age1() -> str:
    return "age1" + rand(BECH32, 58)


def pgp_public() -> str:
    body = base64.b64encode(rng.randbytes(96)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
        + "\n".join(lines)
        + "\n=Ab3x\n"
        + ("-----END PGP PUBLIC KEY BLOCK-----")
    )


def version() -> str:
    v = f"{rng.randint(0, 20)}.{rng.randint(0, 40)}.{rng.randint(0, 30)}"
    return rng.choice([v, "v" + v, v + "-rc." + str(rng.randint(1, 5)), v + "+build.77"])


NEG_MAKERS: dict[str, Callable[[], str]] = {
    "first": lambda: rng.choice(FIRST),
    "b64img": b64img,
    "ed25519": ed25519,
    "ed25519pub": lambda: f"ssh-ed25519 {ed25519()} {rng.choice(FIRST).lower()}@desk",
    "age1": age1,
    "pgp_public": pgp_public,
    "rsa": rsa,
    "sha256": lambda: hashlib.sha256(rng.randbytes(16)).hexdigest(),
    "sha1": lambda: hashlib.sha1(rng.randbytes(16)).hexdigest(),  # noqa: S324 - a fake id
    "short": lambda: hashlib.sha1(rng.randbytes(16)).hexdigest()[: rng.randint(7, 12)],  # noqa: S324
    "sri": lambda: base64.b64encode(hashlib.sha384(rng.randbytes(8)).digest()).decode(),
    "uuid": lambda: str(uuid.UUID(bytes=rng.randbytes(16), version=4)),
    "version": version,
    "user": lambda: rng.choice(FIRST).lower(),
    "word": lambda: rng.choice(WORDS),
    "n": lambda: str(rng.randint(2, 400)),
    "date": lambda: f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
}

FIELD = re.compile(r"\{(\w+)([~!]?)\}|\{\{|\}\}")


def split_templates(
    templates: list[tuple[str, str, str]], split: str
) -> list[tuple[str, str, str]]:
    """The templates of ``split``: even positions to tuning, odd to held-out."""
    first = 0 if split == "tuning" else 1
    return templates[first::2]


def fill_positive(scenario: str, lang: str, template: str) -> dict[str, object]:
    """One positive row from ``template``."""
    text = ""
    spans: list[list[object]] = []
    pauses: list[int] = []
    pos = 0
    for m in FIELD.finditer(template):
        text += template[pos : m.start()]
        pos = m.end()
        if m.group(0) in ("{{", "}}"):
            text += m.group(0)[0]
            continue
        value, category = MAKERS[m.group(1)](lang)
        start = len(text)
        if m.group(2) == "~" and len(value) > 3:
            cut = rng.randint(2, len(value) - 2)
            pauses.append(start + cut)
            text += value
        elif m.group(2) == "!" and len(value) > 3:
            cut = rng.randint(1, len(value) - 2)
            text += value[:cut] + rng.choice(string.ascii_lowercase) + "\b" + value[cut:]
        else:
            text += value
        if category is not None:
            spans.append([start, len(text), category])
    text += template[pos:]
    return {"text": text, "scenario": scenario, "lang": lang, "spans": spans, "pauses": pauses}


def fill_negative(scenario: str, kind: str, template: str) -> dict[str, object]:
    """One negative row from ``template``."""
    text = FIELD.sub(
        lambda m: m.group(0)[0] if m.group(0) in ("{{", "}}") else NEG_MAKERS[m.group(1)](),
        template,
    )
    return {"text": text, "scenario": scenario, "kind": kind, "spans": [], "pauses": []}


def build(split: str) -> list[dict[str, object]]:
    """All rows of ``split`` (positives first)."""
    rng.seed(SEEDS[split])
    positives = split_templates(POSITIVE_TEMPLATES, split)
    negatives = split_templates(NEGATIVE_TEMPLATES, split)
    rows = [fill_positive(*positives[i % len(positives)]) for i in range(POSITIVE_ROWS)]
    rows += [fill_negative(*negatives[i % len(negatives)]) for i in range(NEGATIVE_ROWS)]
    return rows


def main() -> None:
    """Write tuning.jsonl and heldout.jsonl beside this file."""
    for split in SEEDS:
        with (HERE / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for row in build(split):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
