#!/usr/bin/env python3
"""Build two independent evaluation sets, written by hand without reading
the project's rules or existing data (issues 19, 20):

  tests/privacy_windows/fresh.jsonl        window titles: sensitive vs work
  tests/privacy_corpus/fresh_typed.jsonl   typed text with redaction spans

All people, numbers, keys and accounts are invented.  Card numbers are
public test numbers or Luhn-valid made-up ones, IBANs carry computed
check digits, keys have the right shape but are random.

Run:  python3 tests/privacy_corpus/make_fresh.py
This script imports nothing from the project.
"""

import base64
import hashlib
import json
import random
import string
import struct
import uuid
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
WINDOWS_OUT = HERE.parent / "privacy_windows" / "fresh.jsonl"
TYPED_OUT = HERE / "fresh_typed.jsonl"

rng = random.Random(20261207)

# --------------------------------------------------------------------------
# FILE 1: window titles
# --------------------------------------------------------------------------
FF = " \u2014 Mozilla Firefox"
CH = " - Google Chrome"
ED = " - Microsoft\u200b Edge"
CR = " - Chromium"
APP = {FF: "firefox", CH: "google-chrome", ED: "microsoft-edge", CR: "chromium"}

windows = []


def S(cat, title, app=None, lang="en", url=None, browser=None):
    """Sensitive row. If browser is given, title gets its suffix."""
    if browser is not None:
        title = title + browser
        app = APP[browser]
    row = {"title": title, "app": app, "expect": "sensitive", "category": cat, "lang": lang}
    if url:
        row["url"] = url
    windows.append(row)


def W(title, app=None, lang="en", url=None, browser=None, hard=False):
    if browser is not None:
        title = title + browser
        app = APP[browser]
    row = {"title": title, "app": app, "expect": "work", "lang": lang}
    if url:
        row["url"] = url
    windows.append(row)


# health
c = "health"
S(
    c,
    "MyChart - Test Results",
    browser=FF,
    url="https://mychart.riverbendhealth.org/MyChart/app/test-results",
)
S(c, "bloodwork_2025-02.pdf \u2014 Document Viewer", "evince")
S(
    c,
    "Refill Prescriptions | CVS Pharmacy",
    browser=CH,
    url="https://www.cvs.com/pharmacy/v2/refill",
)
S(c, "Teladoc Health - Your Visit Summary", browser=ED)
S(c, "Befund_MRT_Knie_2025.pdf \u2014 Okular", "okular", lang="de")
S(c, "Doctolib - Mes rendez-vous", browser=CH, lang="fr")
S(c, "Patient Portal \u2013 Lab Results", browser=CR)
S(c, "Mijn gezondheidsoverzicht - MijnGezondheid.net", browser=FF, lang="nl")
S(c, "Walgreens: Prescription Status", browser=CH)
S(c, "discharge_summary_cardiology.pdf \u2014 Document Viewer", "evince")
S(c, "Zocdoc - Upcoming appointment with your dermatologist", browser=ED)

c = "mental_health"
S(c, "BetterHelp - Messages with your therapist", browser=CH)
S(c, "Talkspace | Your Room", browser=FF)
S(c, "Cerebral - Medication Check-in", browser=ED)
S(c, "PHQ-9 Depression Self-Assessment", browser=CH)
S(c, "therapy_journal_week12.odt - LibreOffice Writer", "libreoffice")
S(c, "Psychotherapeutische Sprechstunde buchen - 116117", browser=FF, lang="de")
S(c, "ifeel - Tu sesi\u00f3n de terapia online", browser=CH, lang="es")
S(c, "Crisis Text Line - Chat", browser=CR)
S(c, "Psychologue en ligne - Prendre rendez-vous - Doctolib", browser=FF, lang="fr")

c = "reproductive_health"
S(c, "Flo - Period & Ovulation Tracker", browser=CH)
S(c, "Clue \u2013 Cycle calendar", browser=FF)
S(
    c,
    "Planned Parenthood - Book an Appointment",
    browser=ED,
    url="https://www.plannedparenthood.org/get-care/appointments",
)
S(c, "Natural Cycles - Today: Fertile window", browser=CH)
S(c, "IVF_stimulation_protocol_clinic_letter.pdf \u2014 Document Viewer", "evince")
S(c, "Schwangerschaftsabbruch Beratungsstelle finden", browser=CH, lang="de")
S(c, "IVG - Prendre rendez-vous en centre de planification", browser=FF, lang="fr")
S(c, "Ovulation Calculator - When am I most fertile?", browser=CR)
S(c, "Early pregnancy symptoms week by week - What to Expect", browser=ED)

c = "banking"
S(
    c,
    "Chase Online - Account Summary",
    browser=CH,
    url="https://secure.chase.com/web/auth/dashboard",
)
S(c, "Sparkasse Online-Banking - Finanz\u00fcbersicht", browser=FF, lang="de")
S(c, "Kontoauszug_M\u00e4rz_2025.pdf \u2014 Okular", "okular", lang="de")
S(c, "Mes comptes - BNP Paribas", browser=ED, lang="fr")
S(c, "Coinbase - Portfolio", browser=CH, url="https://www.coinbase.com/home")
S(c, "Robinhood - Investing", browser=CR)
S(c, "Revolut - Transactions", browser=FF)
S(c, "Intesa Sanpaolo - Movimenti conto corrente", browser=CH, lang="it")
S(c, "Mijn ING - Overzicht betaalrekening", browser=FF, lang="nl")
S(c, "Kraken - Withdraw Bitcoin", browser=CH)
S(c, "Fidelity NetBenefits - 401(k) Balance", browser=ED)
S(c, "PKO Bank Polski - Historia rachunku", browser=CH, lang="pl")

c = "tax"
S(c, "IRS Online Account - Your Balance", browser=CH, url="https://sa.www4.irs.gov/ola/")
S(c, "2024_Form_1040_signed.pdf \u2014 Document Viewer", "evince")
S(c, "W-2_2024_Acme.pdf \u2014 Okular", "okular")
S(c, "TurboTax - Federal Return Review", browser=CH)
S(c, "Mein ELSTER - Einkommensteuererkl\u00e4rung 2024", browser=FF, lang="de")
S(c, "Lohnsteuerbescheinigung_2024.pdf \u2014 Document Viewer", "evince", lang="de")
S(c, "avis_d_imposition_2024.pdf \u2014 Okular", "okular", lang="fr")
S(c, "impots.gouv.fr - Mon espace particulier", browser=CH, lang="fr")
S(c, "Skatteverket - Inkomstdeklaration 1", browser=ED, lang="sv")

c = "payroll"
S(c, "Payslip_2025-03.pdf \u2014 Document Viewer", "evince")
S(c, "Gehaltsabrechnung_Februar_2025.pdf \u2014 Okular", "okular", lang="de")
S(c, "ADP - My Pay Statements", browser=CH)
S(c, "Gusto - Paystubs", browser=FF)
S(c, "salaries_2025_all_staff.xlsx - LibreOffice Calc", "soffice")
S(c, "bulletin_de_paie_janvier_2025.pdf \u2014 Document Viewer", "evince", lang="fr")
S(c, "Workday - Pay - My Payslips", browser=ED)
S(c, "busta_paga_marzo.pdf \u2014 Okular", "okular", lang="it")

c = "personal_email"
S(
    c,
    "Inbox (3) - jordan.vega.84@gmail.com - Gmail",
    browser=CH,
    url="https://mail.google.com/mail/u/0/#inbox",
)
S(c, "Inbox \u2014 Yahoo Mail", browser=FF)
S(c, "Posteingang - GMX FreeMail", browser=CH, lang="de")
S(c, "Inbox | Proton Mail", browser=CR)
S(
    c,
    "Inbox - sam.ortiz77@outlook.com - Outlook",
    browser=ED,
    url="https://outlook.live.com/mail/0/",
)
S(c, "Bo\u00eete de r\u00e9ception - Mail Orange", browser=FF, lang="fr")
S(c, "iCloud Mail - Inbox", browser=CH)
S(c, "Inbox - nina.k.home@posteo.de - Mozilla Thunderbird", "thunderbird")

c = "social"
S(c, "(12) Home / X", browser=CH)
S(c, "Facebook", browser=FF, url="https://www.facebook.com/")
S(c, "Instagram \u2022 Direct", browser=CH)
S(c, "r/relationship_advice", browser=ED)
S(c, "TikTok - Make Your Day", browser=CR)
S(c, "Home | mastodon.social", browser=FF)
S(c, "Notifications \u2014 Bluesky", browser=CH)
S(c, "Startseite / X", browser=FF, lang="de")

c = "dating"
S(c, "Tinder | Dating, Make Friends & Meet New People", browser=CH)
S(c, "Bumble - Matches", browser=FF)
S(c, "OkCupid | Messages", browser=CH)
S(c, "Match.com - Who viewed you", browser=ED)
S(c, "Parship - Ihre Partnervorschl\u00e4ge", browser=FF, lang="de")
S(c, "Meetic - Mes messages", browser=CH, lang="fr")
S(c, "Lovoo - Wer hat mich geliked", browser=CR, lang="de")
S(c, "Hinge - Your matches", browser=CH)

c = "religion"
S(c, "St. Mary's Parish - Mass Times & Confession", browser=CH)
S(c, "IslamicFinder - Prayer Times", browser=FF)
S(c, "Temple Beth Shalom - Shabbat Services Livestream", browser=CH)
S(c, "Muslim Pro - Quran", browser=CR)
S(c, "Bible Gateway - Psalm 23 (NIV)", browser=ED)
S(c, "Kirchenaustritt - Termin beim Standesamt", browser=FF, lang="de")
S(c, "Paroisse Saint-Eustache - Horaires des messes", browser=CH, lang="fr")
S(c, "JW.ORG - Meeting Workbook", browser=FF)
S(c, "Hallow: Catholic Prayer & Meditation", browser=CH)

c = "politics"
S(c, "Contribute - ActBlue", browser=CH, url="https://secure.actblue.com/donate/")
S(c, "WinRed - Secure Donation", browser=CR)
S(c, "Mitglied werden - SPD", browser=FF, lang="de")
S(c, "Adh\u00e9rer - La France insoumise", browser=CH, lang="fr")
S(c, "Renew your Labour Party membership", browser=ED)
S(c, "Afiliaci\u00f3n - PSOE", browser=FF, lang="es")
S(c, "Lid worden - GroenLinks-PvdA", browser=CH, lang="nl")
S(c, "Donate - Conservative Party", browser=CH)

c = "trade_union"
S(c, "Join UNISON - the public service union", browser=CH)
S(c, "ver.di - Mitglied werden", browser=FF, lang="de")
S(c, "CGT - Adh\u00e9rer au syndicat", browser=CH, lang="fr")
S(c, "Teamsters Local 705 - Member Portal", browser=ED)
S(c, "IG Metall - Beitragsrechner", browser=CR, lang="de")
S(c, "union_authorization_card_signed.pdf \u2014 Document Viewer", "evince")
S(c, "CCOO - Af\u00edliate", browser=CH, lang="es")
S(c, "Unionen - Mina sidor", browser=FF, lang="sv")

c = "job_search"
S(c, "Glassdoor: Acme Corp Reviews", browser=CH)
S(c, "My jobs - Applied | Indeed", browser=FF)
S(c, "Cover_Letter_Globex_final.docx - LibreOffice Writer", "libreoffice")
S(c, "Resume_2025_JVega.pdf \u2014 Document Viewer", "evince")
S(c, "StepStone - Meine Bewerbungen", browser=CH, lang="de")
S(c, "Welcome to the Jungle - Mes candidatures", browser=ED, lang="fr")
S(c, "Offer Letter - Globex - DocuSign", browser=CH)
S(c, "Lebenslauf_2025.pdf \u2014 Okular", "okular", lang="de")
S(
    c,
    "Job Application for Staff Engineer at Initech - Greenhouse",
    browser=FF,
    url="https://boards.greenhouse.io/initech/jobs/4471203",
)
S(c, "LinkedIn Jobs - Open to work settings", browser=CH)

c = "government_benefits"
S(c, "Unemployment Insurance - Weekly Certification", browser=CH)
S(c, "Universal Credit - Your journal - GOV.UK", browser=ED)
S(c, "SNAP Benefits - Application Status", browser=FF)
S(c, "Kindergeld - Antrag online - Familienkasse", browser=CH, lang="de")
S(c, "CAF - Mon compte allocataire", browser=FF, lang="fr")
S(c, "my Social Security | SSA", browser=CH, url="https://secure.ssa.gov/myssa/")
S(c, "F\u00f6rs\u00e4kringskassan - Mina sidor", browser=CH, lang="sv")
S(c, "B\u00fcrgergeld - Weiterbewilligungsantrag - Jobcenter", browser=FF, lang="de")
S(c, "Medicaid Renewal - Your Application", browser=ED)

c = "immigration"
S(c, "Case Status Online - USCIS", browser=CH, url="https://egov.uscis.gov/casestatus/landing.do")
S(c, "I-485_supplement_J.pdf \u2014 Document Viewer", "evince")
S(c, "Apply for a Skilled Worker visa - GOV.UK", browser=FF)
S(c, "Aufenthaltstitel - Termin Landesamt f\u00fcr Einwanderung", browser=CH, lang="de")
S(c, "ANEF - Demande de titre de s\u00e9jour", browser=ED, lang="fr")
S(c, "IND - Verblijfsvergunning aanvragen", browser=FF, lang="nl")
S(c, "Migrationsverket - Uppeh\u00e5llstillst\u00e5nd f\u00f6r arbete", browser=CH, lang="sv")
S(c, "DS-160 Online Nonimmigrant Visa Application", browser=CR)
S(c, "Cita previa extranjer\u00eda - NIE", browser=CH, lang="es")

c = "personal_cloud"
S(c, "Family Photos - Google Drive", browser=CH)
S(c, "iCloud Photos", browser=CH, url="https://www.icloud.com/photos/")
S(c, "Dropbox - Personal - Taxes 2024", browser=FF)
S(c, "Personal Vault - OneDrive", browser=ED)
S(c, "Photos - Google Photos", browser=CH, url="https://photos.google.com/")
S(c, "iCloud Drive", browser=CR)
S(c, "MagentaCLOUD - Meine Dateien", browser=FF, lang="de")

c = "legal"
S(c, "Petition_for_Dissolution_of_Marriage.pdf \u2014 Document Viewer", "evince")
S(c, "LegalZoom - Child Custody Agreement", browser=CH)
S(c, "My Case - Family Court e-Filing", browser=ED)
S(c, "Scheidungsanwalt - Erstberatung anfragen", browser=CH, lang="de")
S(c, "Avocat divorce - Consultation en ligne", browser=FF, lang="fr")
S(c, "Request a Restraining Order - Self-Help", browser=CH)
S(c, "DUI Defense Attorney - Free Case Review", browser=CR)
S(c, "Anwaltsvollmacht_unterschrieben.pdf \u2014 Okular", "okular", lang="de")
S(c, "Filing Chapter 7 Bankruptcy - Nolo", browser=CH)

c = "adult"
S(c, "Pornhub", browser=CH)
S(c, "OnlyFans", browser=FF)
S(c, "Chaturbate - Free Adult Live Webcams", browser=CR)
S(c, "Lovehoney - Sex Toys & Lingerie", browser=CH)
S(c, "Beate Uhse - Erotik Shop", browser=FF, lang="de")
S(c, "xHamster", browser=ED)
S(c, "XVideos", browser=CH, url="https://www.xvideos.com/")

c = "gambling"
S(c, "bet365 - Live Betting", browser=FF)
S(c, "DraftKings Sportsbook", browser=CH)
S(c, "PokerStars Lobby", "pokerstars")
S(c, "Lottoland - Eurojackpot", browser=CH)
S(c, "Winamax - Paris sportifs", browser=FF, lang="fr")
S(c, "Tipico - Sportwetten", browser=ED, lang="de")
S(c, "Codere - Casino en vivo", browser=CH, lang="es")
S(c, "FanDuel Casino - Slots", browser=CH)

c = "sexual_orientation"
S(c, "Grindr Web", browser=CH)
S(c, "HER - Lesbian, Bi & Queer Community", browser=FF)
S(c, "Coming Out - The Trevor Project", browser=CH)
S(c, "Find a Chapter - PFLAG", browser=ED)
S(c, "ROMEO - Gay Chat & Dating", browser=FF)
S(c, "Coming-out: Wie sage ich es meinen Eltern?", browser=CH, lang="de")
S(c, "Trans Lifeline - Get Support", browser=CR)
S(c, "Scruff", browser=CH)

c = "messaging"
S(c, "WhatsApp", browser=CH, url="https://web.whatsapp.com/")
S(c, "(3) WhatsApp", browser=FF)
S(c, "Signal", "signal-desktop")
S(c, "Telegram (5)", "telegram-desktop")
S(c, "Messenger | Facebook", browser=CH)
S(c, "Telegram Web", browser=CR)
S(c, "@jessie_k - Discord", "discord")
S(c, "Messages for web", browser=CH)
S(c, "Threema Web", browser=FF)

c = "password_manager"
S(c, "Passwords.kdbx [Locked] - KeePassXC", "keepassxc")
S(c, "Personal.kdbx - KeePassXC", "keepassxc")
S(c, "All Items \u2014 Personal \u2014 1Password", "1password")
S(c, "My vault | Bitwarden", "bitwarden")
S(c, "Vaults | Bitwarden Web app", browser=CH, url="https://vault.bitwarden.com/#/vault")
S(c, "LastPass Vault", browser=FF)
S(c, "Google Password Manager", browser=CH)
S(c, "Enpass - Primary vault", "enpass")

c = "private_browsing"
S(c, "New Private Tab \u2014 Mozilla Firefox Private Browsing", "firefox")
S(c, "New Incognito Tab - Google Chrome (Incognito)", "google-chrome")
S(c, "New InPrivate tab - [InPrivate] - Microsoft\u200b Edge", "microsoft-edge")
S(c, "Neuer privater Tab \u2014 Mozilla Firefox Privater Modus", "firefox", lang="de")
S(
    c,
    "Nouvel onglet de navigation priv\u00e9e \u2014 Mozilla Firefox Navigation priv\u00e9e",
    "firefox",
    lang="fr",
)
S(c, "Neuer Inkognito-Tab - Google Chrome (Inkognito)", "google-chrome", lang="de")
S(
    c,
    "Nueva pesta\u00f1a de inc\u00f3gnito - Google Chrome (Inc\u00f3gnito)",
    "google-chrome",
    lang="es",
)
S(c, "New Incognito Tab - Chromium (Incognito)", "chromium")
S(c, "About Tor \u2014 Tor Browser", "tor-browser")

# ---- work rows: hard negatives sharing vocabulary with sensitive ones ----
W("payments-service \u2013 PaymentController.kt", "jetbrains-idea")
W("tax_calculation.py - invoicing - Visual Studio Code", "code")
W("health_check.go - api-gateway - Visual Studio Code", "code")
W(
    "Add patient_id index to encounters table by jlee \u00b7 Pull Request #482 \u00b7 medrecord/ehr-core",
    browser=CH,
    url="https://github.com/medrecord/ehr-core/pull/482",
)
W("backdating_check.py - ledger - Visual Studio Code", "code")
W("Date parsing: dating of undated log lines \u00b7 Issue #311 \u00b7 acme/logtime", browser=FF)
W("TypeScript: Documentation - Unions and Intersection Types", browser=CH)
W("Church encoding - Wikipedia", browser=FF)
W("church_numerals.hs - lambda-course - Visual Studio Code", "code")
W(
    "Q3 Benefits Enrollment FAQ - Acme Intranet",
    browser=ED,
    url="https://intranet.acme-corp.com/hr/benefits-faq",
)
W("UK Bank Holidays 2025 - Team Calendar - Confluence", browser=CH)
W("Tax rate table for invoices - Google Sheets", browser=CH)
W("jlee@build-01: ~/src/banking-api", "gnome-terminal-server")
W("Payment latency - Dashboards - Grafana", browser=CH)
W(
    "python - How to validate a credit card number with the Luhn algorithm? - Stack Overflow",
    browser=CH,
)
W(
    "Intl.DateTimeFormat - JavaScript | MDN",
    browser=FF,
    url="https://developer.mozilla.org/en-US/docs/Web/JavaScript/Reference/Global_Objects/Intl/DateTimeFormat",
)
W("Slack | #payroll-eng | Acme Corp", "slack")
W("Mail - Jordan Vega - Outlook", browser=ED, url="https://outlook.office.com/mail/")
W("Notifications | GitHub", browser=CH)
W("Q3 Claims Processing Report - Google Docs", browser=CH)
W("Building Privacy-Preserving Health Apps - PyCon US 2024 - YouTube", browser=FF)
W("[PAY-1423] Reconcile Stripe payouts with ledger - Jira", browser=CH)
W("HIPAA Compliance Checklist for Engineering - Confluence", browser=FF)
W("Immigration case tracker - Product requirements - Notion", browser=CH)
W("fhir_patient_mapper.py - ehr-integration - Visual Studio Code", "code")
W("test_password_reset.py - auth-service - Visual Studio Code", "code")
W("auth-core \u2013 PasswordHasher.java", "jetbrains-idea")
W("vault-agent.hcl - infra - Visual Studio Code", "code")
W("ofx_parser.py - bank-statement-import - Visual Studio Code", "code")
W("matchmaking.go - game-server - Visual Studio Code", "code")
W("Planning Poker - Sprint 42", browser=CH)
W("Union-Find - Algorithms for Competitive Programming", browser=FF)
W("PostgreSQL: Documentation: 16: 7.4. Combining Queries (UNION, INTERSECT, EXCEPT)", browser=CH)
W("Liveness, Readiness and Startup Probes | Kubernetes", browser=CH)
W("OAuth 2.0 Login :: Spring Security", browser=FF)
W("SocialShareButtons.tsx - marketing-site - Visual Studio Code", "code")
W("[WEB-882] Handle incognito mode in storage quota check - Jira", browser=CH)
W("private_browsing_test.js - browser-compat - Visual Studio Code", "code")
W("Telegram Bot API", browser=CH, url="https://core.telegram.org/bots/api")
W("signal_handler.c - supervisord-ng - Visual Studio Code", "code")
W("Cloud API - WhatsApp Business Platform - Meta for Developers", browser=CH)
W("Tax Engine Design Review.pptx - LibreOffice Impress", "libreoffice")
W("payroll_export_schema.sql - hr-platform - Visual Studio Code", "code")
W("Auth service / login failures - Grafana", browser=CR)
W("CAMT.053 Kontoauszug-Import Parser - Confluence", browser=FF, lang="de")
W("rechnungs-service \u2013 Steuerberechnung.java", "jetbrains-idea", lang="de")
W("adult_content_classifier.py - trust-safety - Visual Studio Code", "code")
W("Dockerfile - health-monitor - Visual Studio Code", "code")
W("medication_schedule_test.go - pharmacy-api - Visual Studio Code", "code")
W("[CLIN-220] Lab results ingestion retry - Jira", browser=CH)
W("bank_holidays.py - scheduler - Visual Studio Code", "code")
W("Invoice_INV-2025-0142_Acme_to_Globex.pdf \u2014 Document Viewer", "evince")
W("deploy@prod-pay-01: /var/log/payments", "xterm")
W("kubectl get pods -n payroll : bash \u2014 Konsole", "konsole")
W("Checkout Flow v3 \u2013 Figma", "figma-linux")
W("TaxCalculationError: invoices.compute_vat - Sentry", browser=CH)
W("bank-connector - APM - Datadog", browser=CH)
W("README.md - password-strength-meter - Visual Studio Code", "code")
W("Remove religion field from signup form - PRD - Google Docs", browser=CH)
W("GDPR Art. 9 special category data map - Notion", browser=FF)
W("payments-service #1842 Console [Jenkins]", browser=CH)
W("benefits-eligibility-engine: Pull Request #77 - Bitbucket", browser=FF)
W("Dating app market sizing - Strategy deck.odp - LibreOffice Impress", "libreoffice")
W(
    "Proposition de fonctionnalit\u00e9 : export des bulletins de paie - Confluence",
    browser=CH,
    lang="fr",
)
W("calcolo_iva.py - fatturazione - Visual Studio Code", "code", lang="it")
W(
    "M\u00f3dulo de n\u00f3minas - especificaci\u00f3n t\u00e9cnica - Google Docs",
    browser=CH,
    lang="es",
)
W("~/src/banking-api : zsh \u2014 Konsole", "konsole")
W("Stripe API Reference - Create a PaymentIntent", browser=FF)
W("#health-alerts | Acme Corp - Slack", "slack")

# ---- plain work rows ----
W("main.rs - tokio-app - Visual Studio Code", "code")
W("Sprint 42 Board - Jira", browser=CH)
W(
    "Pull requests \u00b7 acme/web-frontend",
    browser=FF,
    url="https://github.com/acme/web-frontend/pulls",
)
W("Q3 OKRs - Google Docs", browser=CH)
W("Architecture Overview - Engineering - Confluence", browser=ED)
W("quarterly_report_v2.docx - LibreOffice Writer", "libreoffice")
W("capacity_plan_2025.ods - LibreOffice Calc", "soffice")
W("alex@devbox: ~/src/web-frontend", "gnome-terminal-server")
W("Zoom Meeting", "zoom")
W("Slack | #eng-platform | Acme Corp", "slack")
W("Calendar - Alex Chen - Outlook", browser=ED, url="https://outlook.office.com/calendar/view/week")
W("localhost:3000", browser=CH)
W("Swagger UI", browser=CH)
W("aws_s3_bucket | Resources | hashicorp/aws | Terraform Registry", browser=FF)
W("3.12.4 Documentation", browser=CH)
W("pytest -k test_ingest : bash \u2014 Konsole", "konsole")
W("htop", "xterm")
W("Postman", "postman")
W("orders_db - DBeaver 24.1", "dbeaver")
W("Projects", "nautilus")
W("web-frontend \u2013 App.tsx", "jetbrains-webstorm")
W("Inbox - alex.chen@acme-corp.com - Mozilla Thunderbird", "thunderbird")
W("Merge request !214: Upgrade to Node 20 \u00b7 platform/ci-templates \u00b7 GitLab", browser=FF)
W("Release checklist - Notion", browser=CH)
W("Onboarding deck.odp - LibreOffice Impress", "libreoffice")
W("docker compose up : bash \u2014 Konsole", "konsole")
W("Untitled - Excalidraw", browser=CH)
W("CI / build (push) \u00b7 acme/data-pipeline@9c1e2f4", browser=FF)
W("Microsoft Teams - Chat | Platform Guild", browser=ED)
W("Projektplan_Q3.xlsx - LibreOffice Calc", "soffice", lang="de")
W("Compte rendu r\u00e9union \u00e9quipe - Google Docs", browser=CH, lang="fr")
W("Planificaci\u00f3n del sprint - Jira", browser=CH, lang="es")
W("Verslag klantgesprek.docx - LibreOffice Writer", "libreoffice", lang="nl")
W("Specifica_tecnica_API_v2.pdf \u2014 Document Viewer", "evince", lang="it")
W("Dokumentacja API - Confluence", browser=FF, lang="pl")
W("Relat\u00f3rio trimestral - Google Docs", browser=CH, lang="pt")
W("Veckom\u00f6te anteckningar - Notion", browser=CH, lang="sv")
W("Architekturentscheidungen - ADR-012 - Confluence", browser=ED, lang="de")
W("Reuni\u00e3o de planejamento - Google Agenda", browser=CH, lang="pt")
W("Przegl\u0105d kodu - Pull Request #93 - Bitbucket", browser=FF, lang="pl")
W("vim src/lib.rs", "xterm")
W("Emacs - config.org", "emacs")
W("Kibana - Discover - logs-*", browser=CH)
W("Grafana - Kafka consumer lag", browser=CH)
W("Lighthouse Report - Performance", browser=CR)
W("Figma - Design System Tokens", browser=CH)
W("Acme Engineering All-Hands Q3 - YouTube", browser=CH)
W("ArgoCD - Applications", browser=FF)
W("Datadog - Infrastructure List", browser=CH)
W("git log --oneline : zsh \u2014 Konsole", "konsole")
W("Quarterly Business Review.pptx - LibreOffice Impress", "libreoffice")
W("Loom | Demo: new onboarding flow", browser=CH)
W("Miro | Retro Sprint 41", browser=FF)
W("Linear - ENG-1203 Migrate cron jobs to Temporal", browser=CH)
W("requirements.txt - ml-training - Visual Studio Code", "code")
W("Settings - Visual Studio Code", "code")
W("ssh bastion.acme-corp.internal", "gnome-terminal-server")


# --------------------------------------------------------------------------
# FILE 2: typed text
# --------------------------------------------------------------------------
def luhn_ok(num):
    digits = [int(d) for d in num if d.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def make_card(prefix, length):
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        if luhn_ok(body + check):
            return body + check
    raise AssertionError


def group(num, sep=" ", sizes=(4, 4, 4, 4)):
    out, i = [], 0
    for s in sizes:
        out.append(num[i : i + s])
        i += s
    if i < len(num):
        out.append(num[i:])
    return sep.join(x for x in out if x)


def iban(cc, bban):
    def conv(s):
        return "".join(str(int(ch, 36)) for ch in s)

    check = 98 - int(conv(bban + cc + "00")) % 97
    value = f"{cc}{check:02d}{bban}"
    assert int(conv(value[4:] + value[:4])) % 97 == 1
    return value


def digits(n):
    return "".join(rng.choice(string.digits) for _ in range(n))


def alnum(n, alphabet=string.ascii_letters + string.digits):
    return "".join(rng.choice(alphabet) for _ in range(n))


def spaced_iban(v):
    return " ".join(v[i : i + 4] for i in range(0, len(v), 4))


typed = []


def P(text, secrets, scenario, lang="en"):
    """Positive: secrets is a list of (substring, category) in order of appearance."""
    spans, pos = [], 0
    for sub, cat in secrets:
        start = text.find(sub, pos)
        assert start >= 0, (sub, text)
        end = start + len(sub)
        spans.append([start, end, cat])
        pos = end
    typed.append({"text": text, "spans": spans, "scenario": scenario, "lang": lang})


def N(text, kind, scenario, lang="en"):
    typed.append({"text": text, "spans": [], "scenario": scenario, "lang": lang, "kind": kind})


# ---- cards ----
for n in (
    "4111111111111111",
    "5555555555554444",
    "4012888888881881",
    "4242424242424242",
    "5105105105105100",
    "6011111111111117",
    "4000056655665556",
    "5200828282828210",
):
    assert luhn_ok(n), n
amex = "378282246310005"
assert luhn_ok(amex)
c1, c2, c3, c4 = (make_card("4", 16), make_card("5", 16), make_card("4", 16), make_card("2", 16))
c5, c6 = make_card("5", 16), make_card("4", 16)
cards = [
    (
        f"card number is {group('4111111111111111')} exp 09/28 cvv 123",
        group("4111111111111111"),
        "chat",
    ),
    (
        f"Use my Mastercard {group('5555555555554444', '-')} for the hotel deposit please",
        group("5555555555554444", "-"),
        "email",
    ),
    (f"Card: {c1}\nExpiry: 11/27", c1, "form"),
    (f"hey can you pay the electrician, my visa is {group(c3)}", group(c3), "chat"),
    (f"Kartennummer: {group(c2)} g\u00fcltig bis 03/29", group(c2), "form", "de"),
    (
        f"num\u00e9ro de carte : {group('4012888888881881')}",
        group("4012888888881881"),
        "form",
        "fr",
    ),
    (f"Amex {group(amex, ' ', (4, 6, 5))} - don't share", group(amex, " ", (4, 6, 5)), "notes"),
    (f"N\u00famero de tarjeta {group(c4, '-')} caduca 02/30", group(c4, "-"), "form", "es"),
    (f"renew netflix w/ {c5}", c5, "notes"),
    (f"Billing card ending changed, new one {group(c6)}, CVC 771", group(c6), "email"),
    (
        f"ok the discover is {group('6011111111111117')} and zip 94110",
        group("6011111111111117"),
        "chat",
    ),
    (
        f"numero carta {group('5105105105105100')} scadenza 06/27",
        group("5105105105105100"),
        "chat",
        "it",
    ),
]
for t, s, sc, *lg in cards:
    P(t, [(s, "card")], sc, *(lg or ["en"]))


# ---- SSN ----
def ssn():
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


ssns = [ssn() for _ in range(10)]
ssn_tpl = [
    ("SSN: {}", "form"),
    ("my social is {} if HR asks", "chat"),
    ("Social Security Number {} (spouse)", "form"),
    ("ssn {} dob on file", "notes"),
    ("Hi Karen, for the W-4 my SSN is {}. Thanks, Luis", "email"),
    ("Please verify: SS# {}", "email"),
    ("applicant ssn={}", "notes"),
    ("SSN (last year's form had a typo): {}", "notes"),
]
for (tpl, sc), v in zip(ssn_tpl, ssns):
    P(tpl.format(v), [(v, "ssn")], sc)
v = ssns[8].replace("-", "")
P(f"taxpayer id {v} on the 1040", [(v, "ssn")], "notes")
v = ssns[9].replace("-", " ")
P(f"Social security no. {v}", [(v, "ssn")], "form")

# ---- IBAN ----
ib = [
    iban("DE", digits(18)),
    iban("GB", "NWBK" + digits(14)),
    iban("FR", digits(10) + digits(11) + digits(2)),
    iban("NL", "RABO" + digits(10)),
    iban("ES", digits(20)),
    iban("IT", "X" + digits(10) + digits(12)),
    iban("BE", digits(12)),
    iban("PL", digits(24)),
    iban("SE", digits(20)),
    iban("DE", digits(18)),
    iban("AT", digits(16)),
    iban("CH", digits(17)),
]
iban_lines = [
    ("IBAN: {s}", "form", "de", True),
    ("please wire it to {s}, thanks!", "chat", "en", True),
    ("IBAN {p}", "email", "fr", False),
    ("mijn rekening: {p}", "chat", "nl", False),
    ("Mi IBAN es {s}", "chat", "es", True),
    ("Bonifico su IBAN {p} intestato a Giulia", "email", "it", False),
    ("Rekeningnummer {s}", "form", "nl", True),
    ("Numer konta: {s}", "form", "pl", True),
    ("kontonummer {p}", "chat", "sv", False),
    ("Bankverbindung: {p}, Sparkasse", "email", "de", False),
    ("refund to IBAN {s}", "email", "en", True),
    ("IBAN {p} (Lohnkonto)", "notes", "de", False),
]
for (tpl, sc, lg, spaced), v in zip(iban_lines, ib):
    s = spaced_iban(v) if spaced else v
    P(tpl.format(s=s, p=s), [(s, "iban")], sc, lg)

# ---- phone ----
phones = [
    ("call me at (555) 014-2293 after 6", "(555) 014-2293", "chat", "en"),
    ("my cell: +1 555-010-7781", "+1 555-010-7781", "chat", "en"),
    ("Mobile: 07700 900461", "07700 900461", "form", "en"),
    ("ring me on +44 7700 900872 tomorrow", "+44 7700 900872", "chat", "en"),
    ("Tel.: +49 151 2384 7719", "+49 151 2384 7719", "form", "de"),
    ("Handy 0172 5538 210, ruf einfach an", "0172 5538 210", "chat", "de"),
    ("T\u00e9l : 06 48 21 93 57", "06 48 21 93 57", "form", "fr"),
    ("appelle-moi au +33 6 71 42 08 95", "+33 6 71 42 08 95", "chat", "fr"),
    ("mi n\u00famero es 612 348 905", "612 348 905", "chat", "es"),
    ("Phone number: 555-0134", "555-0134", "form", "en"),
    ("text my sister instead: 415-555-0199", "415-555-0199", "chat", "en"),
    ("Telefoonnummer: 06-48392017", "06-48392017", "form", "nl"),
    ("cellulare +39 347 218 5590", "+39 347 218 5590", "chat", "it"),
]
for t, s, sc, lg in phones:
    P(t, [(s, "phone")], sc, lg)

# ---- email ----
emails = [
    (
        "send it to my personal address jordan.vega84@gmail.com not work",
        "jordan.vega84@gmail.com",
        "chat",
        "en",
    ),
    ("Email: priya.nair.home@outlook.com", "priya.nair.home@outlook.com", "form", "en"),
    ("meine private Mail ist nina.kraus@gmx.de", "nina.kraus@gmx.de", "chat", "de"),
    ("contact : camille.roux1992@orange.fr", "camille.roux1992@orange.fr", "form", "fr"),
    ("login: tomasz.w@proton.me", "tomasz.w@proton.me", "form", "pl"),
    ("cc my wife at elena.ferri.home@libero.it", "elena.ferri.home@libero.it", "email", "it"),
    ("reply to samortiz77@yahoo.com for the lease", "samortiz77@yahoo.com", "email", "en"),
    ("Mi correo: lucia.gomez.m@hotmail.es", "lucia.gomez.m@hotmail.es", "form", "es"),
    ("old account was big_dave_1979@aol.com lol", "big_dave_1979@aol.com", "chat", "en"),
    ("E-mailadres: sanne.devries@ziggo.nl", "sanne.devries@ziggo.nl", "form", "nl"),
    ("recovery email mo.haddad@icloud.com", "mo.haddad@icloud.com", "form", "en"),
    (
        "Dr. Patel's office emailed kim.lee.personal@gmail.com about the results",
        "kim.lee.personal@gmail.com",
        "email",
        "en",
    ),
]
for t, s, sc, lg in emails:
    P(t, [(s, "email")], sc, lg)

# ---- passwords ----
pw = [
    ("my new pw is Tangerine!Moon42", ["Tangerine!Moon42"], "chat", "en"),
    ("Passwort: Rh3in-Ufer#2025", ["Rh3in-Ufer#2025"], "form", "de"),
    ("mot de passe : Lapin-Bleu-88", ["Lapin-Bleu-88"], "chat", "fr"),
    ("login bob / Hunter-22x", ["Hunter-22x"], "chat", "en"),
    ("mysql -u root -pS3cr3t!Db9 -h 10.0.4.12 orders", ["S3cr3t!Db9"], "shell", "en"),
    ("wifi password is correcthorsebattery77", ["correcthorsebattery77"], "chat", "en"),
    ("contrase\u00f1a: Gato$Negro2024", ["Gato$Negro2024"], "form", "es"),
    ('password = "Winter2025!!"', ["Winter2025!!"], "code", "en"),
    ("export PGPASSWORD='q9Lx-77vB!mz'", ["q9Lx-77vB!mz"], "shell", "en"),
    ("curl -u admin:Tr0ub4dor\\&3 https://nas.local/api/status", ["Tr0ub4dor\\&3"], "shell", "en"),
    (
        "git clone https://deploy:Pa55w0rd-x9@git.example.com/ops/infra.git",
        ["Pa55w0rd-x9"],
        "shell",
        "en",
    ),
    ("the netflix login is dana.m / Popcorn#Friday", ["Popcorn#Friday"], "chat", "en"),
    ("wachtwoord: Fiets!Amsterdam7", ["Fiets!Amsterdam7"], "chat", "nl"),
    ("has\u0142o: Kot_Mruczek_55", ["Kot_Mruczek_55"], "chat", "pl"),
    ("senha: Praia-Azul#31", ["Praia-Azul#31"], "chat", "pt"),
    ("l\u00f6senord: Midsommar!2024", ["Midsommar!2024"], "chat", "sv"),
    ("DATABASE_URL=postgres://app:vF8#kq2LmZ@db.internal:5432/prod", ["vF8#kq2LmZ"], "code", "en"),
    ("sshpass -p 'Blue-Heron-19' ssh pi@192.168.1.40", ["Blue-Heron-19"], "shell", "en"),
    ("Username: m.rossi  Password: Ciao!Roma1980", ["Ciao!Roma1980"], "form", "it"),
    ("temp password for the portal: Xk7#p2Qw", ["Xk7#p2Qw"], "email", "en"),
]
for t, subs, sc, lg in pw:
    P(t, [(s, "password") for s in subs], sc, lg)

# ---- api keys ----
B32 = string.ascii_uppercase + "234567"
aws_id = "AKIA" + alnum(16, B32)
aws_secret = alnum(40, string.ascii_letters + string.digits + "+/")
ghp = "ghp_" + alnum(36)
ghp2 = "github_pat_" + alnum(22) + "_" + alnum(59)
sk = "sk_live_" + alnum(24)
sk2 = "sk_live_" + alnum(32)
xoxb = f"xoxb-{digits(12)}-{digits(13)}-{alnum(24)}"
xoxp = f"xoxp-{digits(12)}-{digits(12)}-{digits(13)}-{alnum(32, '0123456789abcdef')}"
aiza = "AIza" + alnum(35, string.ascii_letters + string.digits + "-_")
glpat = "glpat-" + alnum(20, string.ascii_letters + string.digits + "-_")
openai = "sk-proj-" + alnum(48, string.ascii_letters + string.digits + "-_")
aws_id2 = "AKIA" + alnum(16, B32)
keys = [
    (
        f"aws_access_key_id = {aws_id}\naws_secret_access_key = {aws_secret}",
        [aws_id, aws_secret],
        "code",
    ),
    (f"export GITHUB_TOKEN={ghp}", [ghp], "shell"),
    (f"here's the token for the CI bot: {ghp2}", [ghp2], "chat"),
    (f"STRIPE_SECRET_KEY={sk}", [sk], "code"),
    (f'stripe.api_key = "{sk2}"', [sk2], "code"),
    (f"SLACK_BOT_TOKEN: {xoxb}", [xoxb], "code"),
    (f"curl -H 'Authorization: Bearer {xoxp}' https://slack.com/api/auth.test", [xoxp], "shell"),
    (f"maps key {aiza}", [aiza], "notes"),
    (
        f"git remote set-url origin https://oauth2:{glpat}@gitlab.com/acme/infra.git",
        [glpat],
        "shell",
    ),
    (f"OPENAI_API_KEY={openai}", [openai], "shell"),
    (f"aws configure set aws_access_key_id {aws_id2}", [aws_id2], "shell"),
]
for t, subs, sc in keys:
    P(t, [(s, "api_key") for s in subs], sc)

# ---- date of birth ----
dobs = [
    ("DOB: 03/14/1987", "03/14/1987", "form", "en"),
    ("born on 12 July 1990 in Leeds", "12 July 1990", "chat", "en"),
    ("Geburtsdatum: 21.04.1979", "21.04.1979", "form", "de"),
    ("n\u00e9 le 5 mars 1984 \u00e0 Lyon", "5 mars 1984", "form", "fr"),
    ("fecha de nacimiento: 30/09/1995", "30/09/1995", "form", "es"),
    ("Date of birth 1972-11-02", "1972-11-02", "form", "en"),
    ("d.o.b. 7/4/2001", "7/4/2001", "notes", "en"),
    ("data di nascita: 18/06/1968", "18/06/1968", "form", "it"),
    ("Pt DOB 02/29/1960, presents with cough", "02/29/1960", "clinical", "en"),
    ("geboortedatum: 11-08-1993", "11-08-1993", "form", "nl"),
    ("data urodzenia: 14.02.1989", "14.02.1989", "form", "pl"),
    ("my birthday is Jan 9 1998 so yes I'm old enough", "Jan 9 1998", "chat", "en"),
    ("f\u00f6delsedatum 1985-05-23", "1985-05-23", "form", "sv"),
]
for t, s, sc, lg in dobs:
    P(t, [(s, "date_of_birth")], sc, lg)

# ---- medical record numbers ----
mrns = [
    ("MRN: 00482913", "00482913", "clinical"),
    ("Patient MRN 7734201, bed 12B", "7734201", "clinical"),
    ("Re: follow-up for MRN# A19-448201", "A19-448201", "email"),
    ("Medical record number: 55-20-918", "55-20-918", "form"),
    ("mrn=003318827 admitted overnight", "003318827", "clinical"),
    ("Chart # 2024-118904 (ortho)", "2024-118904", "clinical"),
    ("Patientennummer: 4471-0392", "4471-0392", "clinical", "de"),
    ("N\u00b0 de dossier patient : 19A004572", "19A004572", "clinical", "fr"),
    ("Kaiser MRN 110928374 for the referral", "110928374", "email"),
    ("Hospital no. RX8812094", "RX8812094", "clinical"),
]
for t, s, sc, *lg in mrns:
    P(t, [(s, "medical_record")], sc, *(lg or ["en"]))

# ---- diagnosis (clinical context) ----
dx = [
    (
        "Dx: type 2 diabetes mellitus (E11.9)",
        ["type 2 diabetes mellitus", "E11.9"],
        "clinical",
        "en",
    ),
    (
        "Assessment: major depressive disorder, recurrent, moderate - F33.1",
        ["major depressive disorder, recurrent, moderate", "F33.1"],
        "clinical",
        "en",
    ),
    (
        "Impression: community-acquired pneumonia, right lower lobe",
        ["community-acquired pneumonia"],
        "clinical",
        "en",
    ),
    (
        "Diagnose: Generalisierte Angstst\u00f6rung (F41.1)",
        ["Generalisierte Angstst\u00f6rung", "F41.1"],
        "clinical",
        "de",
    ),
    (
        "Diagnostic : hypertension art\u00e9rielle essentielle (I10)",
        ["hypertension art\u00e9rielle essentielle", "I10"],
        "clinical",
        "fr",
    ),
    (
        "ICD-10 Z34.01 - supervision of normal first pregnancy, first trimester",
        ["Z34.01", "supervision of normal first pregnancy, first trimester"],
        "clinical",
        "en",
    ),
    ("Problem list: HIV disease (B20), on ART", ["HIV disease", "B20"], "clinical", "en"),
    (
        "Dx bipolar I disorder, current episode manic",
        ["bipolar I disorder, current episode manic"],
        "clinical",
        "en",
    ),
    (
        "Diagn\u00f3stico: asma bronquial persistente moderada J45.40",
        ["asma bronquial persistente moderada", "J45.40"],
        "clinical",
        "es",
    ),
    (
        "A/P: 1. Alcohol use disorder, moderate (F10.20)",
        ["Alcohol use disorder, moderate", "F10.20"],
        "clinical",
        "en",
    ),
    (
        "Reason for visit: follow-up of chronic hepatitis C (B18.2)",
        ["chronic hepatitis C", "B18.2"],
        "clinical",
        "en",
    ),
    (
        "Final diagnosis: ADHD, combined type (F90.2)",
        ["ADHD, combined type", "F90.2"],
        "clinical",
        "en",
    ),
    (
        "the referral letter says Dx: endometriosis of ovary, N80.1",
        ["endometriosis of ovary", "N80.1"],
        "email",
        "en",
    ),
]
for t, subs, sc, lg in dx:
    P(t, [(s, "diagnosis") for s in subs], sc, lg)

# ---- medication with dose ----
meds = [
    ("Rx: metformin 500 mg PO BID", ["metformin 500 mg"], "clinical", "en"),
    ("Started sertraline 50 mg daily, review in 4 weeks", ["sertraline 50 mg"], "clinical", "en"),
    (
        "Meds: lisinopril 10 mg qd; atorvastatin 20 mg qhs",
        ["lisinopril 10 mg", "atorvastatin 20 mg"],
        "clinical",
        "en",
    ),
    ("Medikation: Ibuprofen 600 mg 1-0-1", ["Ibuprofen 600 mg"], "clinical", "de"),
    ("Traitement : lamotrigine 100 mg matin et soir", ["lamotrigine 100 mg"], "clinical", "fr"),
    ("continue quetiapine 25 mg at bedtime", ["quetiapine 25 mg"], "clinical", "en"),
    ("pharmacy note: levothyroxine 75 mcg, 90-day supply", ["levothyroxine 75 mcg"], "notes", "en"),
    ("Insulin glargine 18 units SC nightly", ["Insulin glargine 18 units"], "clinical", "en"),
    (
        "Plan: buprenorphine/naloxone 8 mg/2 mg SL daily",
        ["buprenorphine/naloxone 8 mg/2 mg"],
        "clinical",
        "en",
    ),
    ("Tratamiento: escitalopram 10 mg cada ma\u00f1ana", ["escitalopram 10 mg"], "clinical", "es"),
    ("Discharge meds: apixaban 5 mg BID", ["apixaban 5 mg"], "clinical", "en"),
    ("refill request: methylphenidate ER 36 mg", ["methylphenidate ER 36 mg"], "email", "en"),
    (
        "PrEP: emtricitabine/tenofovir 200/300 mg once daily",
        ["emtricitabine/tenofovir 200/300 mg"],
        "clinical",
        "en",
    ),
]
for t, subs, sc, lg in meds:
    P(t, [(s, "medication") for s in subs], sc, lg)

# ---- passport ----
pp = [
    ("Passport No: 548201937", "548201937", "form", "en"),
    ("Reisepassnummer: C4F7K92LM", "C4F7K92LM", "form", "de"),
    ("N\u00b0 de passeport : 19AV45123", "19AV45123", "form", "fr"),
    ("passport number 123987456, expires 2031", "123987456", "email", "en"),
    ("N\u00famero de pasaporte: PAB482917", "PAB482917", "form", "es"),
    ("Numero passaporto YA7719204", "YA7719204", "form", "it"),
    ("paspoortnummer NW8RK4T21", "NW8RK4T21", "form", "nl"),
    ("my passport # is 602948113 for the booking", "602948113", "chat", "en"),
    ("Passport: GB 519283746", "519283746", "form", "en"),
    ("Passnummer 83920147 (Sverige)", "83920147", "form", "sv"),
]
for t, s, sc, lg in pp:
    P(t, [(s, "passport")], sc, lg)

# ---- driver's licence ----
dl = [
    ("Driver's License #: D4829137 (CA)", "D4829137", "form", "en"),
    ("DL no. 492 118 307 NY", "492 118 307", "form", "en"),
    ("Licence number: VEGAJ802154J99AB", "VEGAJ802154J99AB", "form", "en"),
    ("F\u00fchrerscheinnummer: B072RRE2I55", "B072RRE2I55", "form", "de"),
    ("num\u00e9ro de permis de conduire : 12AB34567", "12AB34567", "form", "fr"),
    ("driving licence MORRI751029SM9KX for the rental", "MORRI751029SM9KX", "chat", "en"),
    ("TX DL 38192047", "38192047", "notes", "en"),
    ("permiso de conducir n\u00ba 47829103-K", "47829103-K", "form", "es"),
    ("rijbewijsnummer 5281937460", "5281937460", "form", "nl"),
    ("Driver license: W426-5581-9273 (WI)", "W426-5581-9273", "form", "en"),
]
for t, s, sc, lg in dl:
    P(t, [(s, "drivers_licence")], sc, lg)

# ---- mixed multi-span positives ----
mc = make_card("4", 16)
mi = iban("DE", digits(18))
ms = ssn()
P(
    f"Name: Jordan Vega\nDOB: 08/22/1986\nSSN: {ms}\nPhone: (555) 013-4478",
    [("08/22/1986", "date_of_birth"), (ms, "ssn"), ("(555) 013-4478", "phone")],
    "form",
)
P(
    f"Hi Tom, pay the deposit from {spaced_iban(mi)} and email the receipt to tom.berger.privat@web.de",
    [(spaced_iban(mi), "iban"), ("tom.berger.privat@web.de", "email")],
    "email",
    "de",
)
P(
    "MRN 90021877 | DOB 1954-03-09 | Dx: chronic kidney disease stage 3 (N18.30) | furosemide 40 mg daily",
    [
        ("90021877", "medical_record"),
        ("1954-03-09", "date_of_birth"),
        ("chronic kidney disease stage 3", "diagnosis"),
        ("N18.30", "diagnosis"),
        ("furosemide 40 mg", "medication"),
    ],
    "clinical",
)
P(
    f"booking: passport 771204589, card {group(mc)}",
    [("771204589", "passport"), (group(mc), "card")],
    "form",
)
P("ssh admin@10.2.0.5   # pw is Gr33nTea!Hill", [("Gr33nTea!Hill", "password")], "shell")
P(
    "Patient: F, 34. MRN 6613092. Dx: polycystic ovary syndrome (E28.2). Rx: spironolactone 100 mg daily.",
    [
        ("6613092", "medical_record"),
        ("polycystic ovary syndrome", "diagnosis"),
        ("E28.2", "diagnosis"),
        ("spironolactone 100 mg", "medication"),
    ],
    "clinical",
)
P(
    "Bewerbung: Geburtsdatum 02.12.1991, Tel. 0157 3382 9104, E-Mail lena.hoffmann91@gmx.net",
    [
        ("02.12.1991", "date_of_birth"),
        ("0157 3382 9104", "phone"),
        ("lena.hoffmann91@gmx.net", "email"),
    ],
    "form",
    "de",
)


# ---- more single-category positives ----
mc2, mc3 = make_card("4", 16), make_card("5", 16)
P(f"pls order the tickets, card {group(mc2)} exp 01/29", [(group(mc2), "card")], "chat")
P(f"Cardholder: D. Moreau / Carte {group(mc3, '-')}", [(group(mc3, "-"), "card")], "form", "fr")
s1, s2, s3 = ssn(), ssn(), ssn()
P(f"SSN {s1} - for the mortgage pre-approval", [(s1, "ssn")], "email")
P(f"Employee SSN: {s2}", [(s2, "ssn")], "form")
P(f"can u fill in my ssn on the form, it's {s3}", [(s3, "ssn")], "chat")
ak = "AKIA" + alnum(16, B32)
P(f"[default]\naws_access_key_id={ak}", [(ak, "api_key")], "code")
sk3 = "sk_live_" + alnum(28)
P(f"oops, pasted prod key in the channel: {sk3} - rotating now", [(sk3, "api_key")], "chat")
P("MRN 00917733 - please fax the imaging report", [("00917733", "medical_record")], "email")
P("Patient ID (MRN): 2210-5587-3", [("2210-5587-3", "medical_record")], "form")
P("Passport number: X98Y21504 (Netherlands)", [("X98Y21504", "passport")], "form")
P("Reisepass Nr. L01X27M85, ausgestellt 2022", [("L01X27M85", "passport")], "form", "de")
P("DL# S530-4419-8820-07 (FL)", [("S530-4419-8820-07", "drivers_licence")], "form")
P("Driver licence no. 0381 7742 9 (IL)", [("0381 7742 9", "drivers_licence")], "form")
P("Geboren am 17.08.1975 in Graz", [("17.08.1975", "date_of_birth")], "form", "de")
P("my number changed, new one is +1 (555) 017-3390", [("+1 (555) 017-3390", "phone")], "chat")
P("Rx: oxycodone 5 mg q6h PRN pain, #20", [("oxycodone 5 mg", "medication")], "clinical")
P(
    "Dx: opioid use disorder, severe (F11.20)",
    [("opioid use disorder, severe", "diagnosis"), ("F11.20", "diagnosis")],
    "clinical",
)

# --------------------------------------------------------------------------
# negatives
# --------------------------------------------------------------------------
for i in range(10):
    blob = b"\x89PNG\r\n\x1a\n" + bytes(rng.getrandbits(8) for _ in range(rng.randint(40, 120)))
    b64 = base64.b64encode(blob).decode()
    wrappers = [
        '<img src="data:image/png;base64,{}">',
        "background: url(data:image/png;base64,{});",
        'icon = "data:image/png;base64,{}"',
        "data:image/png;base64,{}",
    ]
    N(rng.choice(wrappers).format(b64), "base64_data", rng.choice(["code", "code", "notes"]))
for i in range(4):
    blob = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(rng.randint(30, 60)))).decode()
    N(f"echo '{blob}' | base64 -d > fixture.bin", "base64_data", "shell")

for who in (
    "alex@laptop",
    "jlee@build-01",
    "deploy@ci",
    "nina@workstation",
    "ops@bastion",
    "sam@mbp",
    "dev@thinkpad",
    "ci-runner",
):
    key = bytes(rng.getrandbits(8) for _ in range(32))
    blob = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 32) + key
    line = f"ssh-ed25519 {base64.b64encode(blob).decode()} {who}"
    if rng.random() < 0.4:
        line = f'echo "{line}" >> ~/.ssh/authorized_keys'
        N(line, "public_key", "shell")
    else:
        N(line, "public_key", "notes")

for i in range(10):
    h = hashlib.sha256(f"artifact-{i}-{rng.random()}".encode()).hexdigest()
    tpl = rng.choice(
        [
            "sha256:{}",
            "{}  dist/app-1.4.{}.tar.gz",
            "expected checksum {}",
            "docker pull ghcr.io/acme/api@sha256:{}",
            "FROM python:3.12-slim@sha256:{}",
        ]
    )
    N(
        tpl.format(h, i) if "{}" in tpl[tpl.index("{}") + 2 :] else tpl.format(h),
        "hash",
        "shell" if tpl.startswith(("docker", "FROM")) else "notes",
    )
N(f"md5sum: {hashlib.md5(b'backup').hexdigest()}  backup.tar", "hash", "shell")

for i in range(10):
    h = hashlib.sha1(f"commit-{i}-{rng.random()}".encode()).hexdigest()
    tpl = rng.choice(
        [
            "git show {}",
            "git cherry-pick {}",
            "reverts commit {}",
            "Fixed in {}.",
            "git log {}..HEAD --oneline",
            "git checkout {} -- src/parser.py",
        ]
    )
    if rng.random() < 0.4:
        h = h[:7]
    N(tpl.format(h), "commit", "shell" if tpl.startswith("git") else "notes")

for i in range(10):
    u = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    tpl = rng.choice(
        [
            "request_id={}",
            "GET /api/v2/orders/{} 404",
            "trace {} took 812ms",
            "job {} finished",
            '"id": "{}",',
        ]
    )
    N(tpl.format(u), "uuid", "code" if tpl.startswith('"') else "notes")

versions = [
    "numpy==1.26.4",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0.6367.91 Safari/537.36",
    "Linux 6.8.0-45-generic #45-Ubuntu SMP",
    "bumped to v2.14.3-rc.1",
    "openssl 3.0.13 30 Jan 2024",
    "node v20.11.1 / npm 10.2.4",
    "Build 22631.3447",
    '"version": "4.17.21"',
    "go1.22.3 linux/amd64",
]
for v in versions:
    N(v, "version", "notes")

shell_neg = [
    "git push origin main",
    "docker compose up -d --build",
    "kubectl get pods -n payments",
    "mysql -u root -p orders",
    "ssh deploy@10.0.3.17",
    "chmod 755 scripts/deploy.sh",
    'export PGPASSWORD="$DB_PASSWORD"',
    "aws s3 ls s3://acme-build-artifacts/ --profile ci",
    "grep -rn 'password' src/ | wc -l",
    "psql -h localhost -U app -d billing",
    "pip install -r requirements.txt",
    "curl -s https://api.github.com/repos/acme/web/pulls?state=open",
    "passwd",
    "openssl rand -hex 32 > .env.secret",
    "cat ~/.ssh/id_ed25519.pub",
    "tail -f /var/log/nginx/access.log",
]
for s in shell_neg:
    N(s, "shell", "shell")

ident_neg = [
    "def validate_iban(value: str) -> bool:",
    "password_hash = bcrypt.hashpw(password.encode(), salt)",
    "if user.ssn_last4 is None: raise ValidationError",
    "const PASSWORD_MIN_LENGTH = 12;",
    "class PatientRecordSerializer(serializers.ModelSerializer):",
    "card_number = models.CharField(max_length=19)",
    "SELECT patient_id, mrn FROM encounters WHERE admitted_at > now() - interval '1 day';",
    "let dob = parse_date(&form.date_of_birth)?;",
    'STRIPE_SECRET_KEY = os.environ["STRIPE_SECRET_KEY"]',
    "api_key: ${{ secrets.OPENAI_API_KEY }}",
    "test_luhn_rejects_4111111111111112()",
    "diagnosis_code = row['icd10']",
    "fn redact_phone_numbers(text: &str) -> String {",
]
for s in ident_neg:
    N(s, "identifier", "code")

url_neg = [
    "https://github.com/acme/payments-service/pull/1842",
    "see https://docs.stripe.com/testing#cards",
    "https://www.irs.gov/forms-pubs/about-form-w-2",
    "https://en.wikipedia.org/wiki/Luhn_algorithm",
    "https://grafana.acme-corp.com/d/pay-latency?orgId=1&from=now-6h",
    "postgres://db.internal:5432/billing",
    "https://www.who.int/news-room/fact-sheets/detail/diabetes",
]
for s in url_neg:
    N(s, "url", "notes" if " " not in s else "chat")

prose_neg = [
    ("Please never send passwords over Slack; use the vault share link instead.", "chat", "en"),
    ("Your password must be at least 12 characters and include a symbol.", "form", "en"),
    ("Forgot your password? We'll email you a reset link.", "form", "en"),
    ("I read an interesting piece on how Finland handles diabetes screening.", "chat", "en"),
    ("Reminder: open enrollment for health insurance closes Friday.", "email", "en"),
    ("Das Passwort muss alle 90 Tage ge\u00e4ndert werden.", "notes", "de"),
    (
        "N'oubliez pas de changer votre mot de passe apr\u00e8s la premi\u00e8re connexion.",
        "email",
        "fr",
    ),
    (
        "We should store IBANs encrypted at rest and mask all but the last four digits.",
        "notes",
        "en",
    ),
    ("The talk covered how hospitals assign medical record numbers.", "notes", "en"),
    ("Stripe publishes test card numbers for use in sandbox mode only.", "notes", "en"),
    ("how do passport numbers work in the UK", "search", "en"),
    ("best practices for storing social security numbers", "search", "en"),
    ("Who's taking the on-call shift for the payroll batch this weekend?", "chat", "en"),
    ("rotate the API keys after the contractor leaves", "notes", "en"),
    ("La contrase\u00f1a se restablece desde el panel de administraci\u00f3n.", "notes", "es"),
    ("side effects of ibuprofen", "search", "en"),
]
for t, sc, lg in prose_neg:
    N(t, "prose", sc, lg)

clinical_neg = [
    ("Vitals stable. Plan: recheck in 6 weeks.", "clinical"),
    ("Clinic hours Mon-Fri 8-5; lab closes at 4 pm.", "clinical"),
    ("Nurse station 4B: please restock gloves (size M) and saline flushes.", "clinical"),
    ("Follow-up scheduled; patient verbalized understanding of instructions.", "clinical"),
    ("Handoff at 19:00, no acute events overnight.", "clinical"),
    ("Reminder: flu vaccine clinic for staff on Thursday in room 210.", "clinical"),
    ("Morning huddle moved to 07:45.", "clinical"),
    ("Rounds: 14 patients on the ward, 2 pending discharge paperwork.", "clinical"),
]
for t, sc in clinical_neg:
    N(t, "clinical", sc)

# numbers that are not card/ssn/dob/phone
bad = "1234567812345678"
assert not luhn_ok(bad)
order16 = digits(15)
order16 += [d for d in string.digits if not luhn_ok(order16 + d)][0]
numbers_neg = [
    f"Order #{bad} shipped",
    f"USPS tracking 9400 1118 9956 {digits(4)} {digits(4)} {digits(2)}",
    f"order ref {order16}",
    "Invoice INV-2025-0142 due 2025-04-30",
    "Meeting moved to 03/14/2025 at 10:00",
    "qty 12 @ 4.99 = 59.88",
    "ISBN 978-3-16-148410-0",
    "release date: 2025-06-01",
    "Ticket #48213 closed",
    "Room 1204, floor 12",
    "PO 4500018823 approved",
    "p95 latency 412 ms, p99 1.3 s",
    "Build 20250314.7 passed",
    "Deadline 21.04.2025 f\u00fcr das Angebot",
    "batch 2024-11-02 processed 18,442 rows",
    "IP 192.168.1.40 port 5432",
    "dose-response curve fitted over 0.5-50 mg range in the assay",
    "lot number 22910A expires 2026-08",
    "the meeting is on 12 July 2025",
]
for s in numbers_neg:
    N(s, "numbers", "notes")


# --------------------------------------------------------------------------
def main():
    with open(WINDOWS_OUT, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in windows)
    with open(TYPED_OUT, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in typed)
    print(
        "windows:",
        len(windows),
        Counter(r["expect"] for r in windows),
        "non-en:",
        sum(r["lang"] != "en" for r in windows),
        "urls:",
        sum("url" in r for r in windows),
    )
    print(Counter(r.get("category") for r in windows if r["expect"] == "sensitive"))
    pos = [r for r in typed if r["spans"]]
    print("typed:", len(typed), "pos", len(pos), "neg", len(typed) - len(pos))
    print(Counter(s[2] for r in pos for s in r["spans"]))
    print(Counter(r["kind"] for r in typed if not r["spans"]))


if __name__ == "__main__":
    main()
