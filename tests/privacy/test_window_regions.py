"""English titles from Canada, Australia, India and the US (written for this test, not
taken from the evaluation sets), and work titles that share their words."""

from __future__ import annotations

import pytest

from privacy.denylist import Denylist


@pytest.mark.parametrize(
    ("title", "category"),
    [
        ("EI claim status - My Service Canada Account - Google Chrome", "government_benefits"),
        ("Centrelink - myGov - Mozilla Firefox", "government_benefits"),
        ("Check your EBT card balance - ConnectEBT - Google Chrome", "government_benefits"),
        ("Notice of Assessment 2025 - CRA My Account - Google Chrome", "tax"),
        ("Form 16 download - Google Chrome", "tax"),
        ("HDFC Bank NetBanking - Google Chrome", "banking"),
        ("Kiwibank - Internet Banking - Mozilla Firefox", "banking"),
        ("Express Entry profile - IRCC - Google Chrome", "immigration"),
        ("Payslips - Xero Me - Google Chrome", "hr"),
        ("Matches - Shaadi.com - Google Chrome", "dating"),
        ("Join the union - CUPE - Google Chrome", "trade_union"),
        ("My Bets - Sportsbet - Google Chrome", "gambling"),
        ("Legal aid for family matters - Mozilla Firefox", "legal"),
        ("Republican National Committee - Google Chrome", "politics"),
        # work: the same words in work titles stay recorded
        ("Reconcile bank feed - Xero - Google Chrome", None),
        ("Commit history - main - Google Chrome", None),
        ("Sportsbook odds feed - Topics - Confluent Cloud - Google Chrome", None),
        ("Up bank transaction export - Jira - Google Chrome", None),
        ("Skattemelding API - Teknisk dokumentasjon - Skatteetaten - Google Chrome", None),
    ],
)
def test_regional_english_titles(title: str, category: str | None) -> None:
    assert Denylist.default().match(title, "google-chrome") == category


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Jobseeker's Allowance", "jobseekers allowance"),
        ("Women’s Health Clinic", "womens health clinic"),
        ("l'Assurance Maladie", "l assurance maladie"),
    ],
)
def test_a_possessive_folds_to_one_word(text: str, folded: str) -> None:
    from privacy.window_rules.normalize import fold

    assert fold(text) == folded
