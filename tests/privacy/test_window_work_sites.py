"""Shipped work sites under a sensitive brand's domain (work.toml ``domains``)."""

from __future__ import annotations

import pytest

from privacy.denylist import Denylist


@pytest.mark.parametrize(
    ("title", "url", "category"),
    [
        # The platform's developer documentation is work; its feed is not.
        (
            "Cloud API - WhatsApp Business Platform - Meta for Developers - Google Chrome",
            "https://developers.facebook.com/docs/whatsapp/cloud-api",
            None,
        ),
        ("Home - Facebook - Google Chrome", "https://www.facebook.com/", "social"),
        ("Messenger - Google Chrome", "https://www.facebook.com/messages/t/1", "messaging"),
        ("Ads Manager - Google Chrome", "https://business.facebook.com/adsmanager", None),
        ("Coinbase Developer Docs - Google Chrome", "https://docs.cdp.coinbase.com/", None),
        ("Coinbase - Buy Bitcoin - Google Chrome", "https://www.coinbase.com/", "banking"),
    ],
)
def test_work_sites_under_sensitive_domains(title: str, url: str, category: str | None) -> None:
    assert Denylist.default().match(title, "google-chrome", None, url) == category


def test_a_site_name_in_a_title_counts_as_work_too() -> None:
    title = "developers.facebook.com/docs/graph-api - Google Chrome"
    assert Denylist.default().match(title, "google-chrome") is None
