"""Redaction categories and the sensitivity level each one implies (DESIGN.md §6).

Levels: 1 generic UI action, 2 text content, 3 personal or confidential context,
4 secrets, health or financial identifiers. A category is a fixed word; it is what a
redacted key event carries in ``redacted`` and what removal counts are keyed by.
"""

from __future__ import annotations

from typing import Final

PAYMENT_CARD: Final = "payment_card"
SSN: Final = "ssn"
IBAN: Final = "iban"
EMAIL: Final = "email"
PHONE: Final = "phone"
AWS_KEY: Final = "aws_key"
SECRET_KEY: Final = "secret_key"
GITHUB_TOKEN: Final = "github_token"
SLACK_TOKEN: Final = "slack_token"
STRIPE_KEY: Final = "stripe_key"
GOOGLE_KEY: Final = "google_key"
API_TOKEN: Final = "api_token"
JWT: Final = "jwt"
PRIVATE_KEY: Final = "private_key"
URL_CREDENTIAL: Final = "url_credential"
CREDENTIAL: Final = "credential"
PASSWORD: Final = "password"
DATE_OF_BIRTH: Final = "date_of_birth"
MEDICAL_RECORD: Final = "medical_record"
"""A medical record, patient or health insurance number."""
DIAGNOSIS: Final = "diagnosis"
"""A diagnosis or condition, or its ICD-10 code, in a clinical context."""
MEDICATION: Final = "medication"
PASSPORT: Final = "passport"
DRIVERS_LICENCE: Final = "drivers_licence"
HIGH_ENTROPY: Final = "high_entropy"
DROPPED_CONTEXT: Final = "dropped_context"
"""Typed text withheld whole because keys inside it were lost (a full queue)."""
UNJUDGED: Final = "unjudged"
"""Typed text withheld because no bounded window could judge it (see text_buffer)."""

SENSITIVITY: Final[dict[str, int]] = {
    PAYMENT_CARD: 4,
    SSN: 4,
    IBAN: 4,
    EMAIL: 3,
    PHONE: 3,
    AWS_KEY: 4,
    SECRET_KEY: 4,
    GITHUB_TOKEN: 4,
    SLACK_TOKEN: 4,
    STRIPE_KEY: 4,
    GOOGLE_KEY: 4,
    API_TOKEN: 4,
    JWT: 4,
    PRIVATE_KEY: 4,
    URL_CREDENTIAL: 4,
    CREDENTIAL: 4,
    PASSWORD: 4,
    DATE_OF_BIRTH: 4,
    MEDICAL_RECORD: 4,
    DIAGNOSIS: 4,
    MEDICATION: 4,
    PASSPORT: 4,
    DRIVERS_LICENCE: 4,
    HIGH_ENTROPY: 4,
    DROPPED_CONTEXT: 4,
    UNJUDGED: 4,
}

ALL: Final[frozenset[str]] = frozenset(SENSITIVITY)


def sensitivity_of(category: str) -> int:
    """The sensitivity level a redaction of ``category`` implies (4 when unknown: fail closed)."""
    return SENSITIVITY.get(category, 4)
