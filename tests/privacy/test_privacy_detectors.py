"""Detectors: each category found in context, tricky look-alikes left alone."""

from __future__ import annotations

import pytest

from privacy.detectors import Span, detect, merge_spans, redact_text
from privacy.entropy import looks_random, shannon_entropy

FOUND = [
    ("pay with 4111 1111 1111 1111 please", "4111 1111 1111 1111", "payment_card"),
    ("card 4242424242424242", "4242424242424242", "payment_card"),
    ("amex 3782-822463-10005", "3782-822463-10005", "payment_card"),
    ("my ssn is 219-45-6789.", "219-45-6789", "ssn"),
    ("SSN: 219456789", "219456789", "ssn"),
    ("IBAN GB82 WEST 1234 5698 7654 32 thanks", "GB82 WEST 1234 5698 7654 32", "iban"),
    ("to DE89370400440532013000 by friday", "DE89370400440532013000", "iban"),
    ("write to sam.lee@example.com now", "sam.lee@example.com", "email"),
    ("call (201) 555-0123 later", "(201) 555-0123", "phone"),
    ("uk +44 20 7946 0958", "+44 20 7946 0958", "phone"),
    ("id AKIAIOSFODNN7EXAMPLE ok", "AKIAIOSFODNN7EXAMPLE", "aws_key"),
    (
        "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLE12",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLE12",
        "secret_key",
    ),
    (
        "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5",
        "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5",
        "github_token",
    ),
    (
        "xoxb-123456789012-1234567890123-aB3dE5gH7jK9mN1pQ3sT5vW7",
        "xoxb-123456789012-1234567890123-aB3dE5gH7jK9mN1pQ3sT5vW7",
        "slack_token",
    ),
    ("sk_live_aB3dE5gH7jK9mN1pQ3sT5vW7", "sk_live_aB3dE5gH7jK9mN1pQ3sT5vW7", "stripe_key"),
    (
        "key AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
        "google_key",
    ),
    (
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLWJ5dGVz",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLWJ5dGVz",
        "jwt",
    ),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        "private_key",
    ),
    ("postgres://app:Hunter2!x@db.example.com/app", "app:Hunter2!x", "url_credential"),
    ("password=Maple&4719lan", "Maple&4719lan", "credential"),
    ("export AWS_SESSION_TOKEN=abc123", "abc123", "credential"),
    ("export GH_TOKEN=hunter22", "hunter22", "credential"),
    ("mysql -u root -pS3cret app", "S3cret", "credential"),
    ("passwd: Falcon#42", "Falcon#42", "credential"),
    ("my password is Zephyr?77", "Zephyr?77", "credential"),
    ("here kX9mQ2vL7pR4tZ8wN3bJ6yH1 ok", "kX9mQ2vL7pR4tZ8wN3bJ6yH1", "high_entropy"),
]

NOT_FOUND = [
    "git checkout 3f2a9c1b7e4d5f6a8b9c0d1e2f3a4b5c6d7e8f90",
    "request 123e4567-e89b-12d3-a456-426614174000 failed",
    "pip install numpy==1.26.4 and v2.3.1-rc.2+build.45",
    "2024-01-15T12:30:45.123Z and 1705312245 and 12:30:45",
    "Order #112-4567890-1234567 and PO-2024-138688",
    "ISBN 978-3-16-148410-0 and 9780306406157",
    "UPS 1Z999AA10123456784, USPS 9400111899223397845627",
    "password = request.form['password']",
    "if password != confirm_password: raise ValueError('mismatch')",
    "getUserAuthenticationTokenForSession(sessionId)",
    "def test_privacy_detectors_payment_card_luhn_check_digit():",
    "/usr/lib/python3.11/site-packages/numpy/core/_multiarray_umath.cpython-311-x86_64.so",
    "git clone git@github.com:example/capture-agent.git",
    "ssh -p 2222 deploy@build.example.com uptime",
    "docker run -p 8080:80 nginx and mkdir -p build",
    "the password is stored in the team vault",
    "public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
    "arn:aws:iam::123456789012:role/deploy",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "4111 1111 1111 1112",  # fails the Luhn check
    "000-12-3456 and 666-12-3456 and 123-00-4567",  # invalid SSN areas and groups
    "GB82 WEST 1234 5698 7654 33",  # bad IBAN check digits
]


@pytest.mark.parametrize(("text", "secret", "category"), FOUND)
def test_each_category_is_found(text: str, secret: str, category: str) -> None:
    start = text.index(secret)
    spans = detect(text)
    assert Span(start, start + len(secret), category) in spans, spans


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_flagged(text: str) -> None:
    assert detect(text) == []


def test_merge_spans_joins_overlaps_and_keeps_the_first_category() -> None:
    merged = merge_spans([Span(5, 9, "b"), Span(0, 6, "a"), Span(20, 22, "c")])
    assert merged == [Span(0, 9, "a"), Span(20, 22, "c")]


def test_redact_text_keeps_length_and_line_structure() -> None:
    text = "a 4111111111111111\nb"
    out = redact_text(text, detect(text))
    assert len(out) == len(text)
    assert "4111" not in out and out.endswith("\nb")


def test_entropy_rules() -> None:
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == 2.0
    assert looks_random("kX9mQ2vL7pR4tZ8wN3bJ6yH1")
    assert not looks_random("getUser2FactorAuthToken1")
    assert not looks_random("3f2a9c1b7e4d5f6a8b9c0d1e")  # hex
    assert not looks_random("short1A")
