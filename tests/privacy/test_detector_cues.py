"""The cheap cue look-up (privacy.detect_words) never changes what the detectors find: on
every corpus text, detection with the look-up equals detection with it switched off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privacy import detect_words
from privacy.detectors import detect

CORPUS = Path(__file__).parents[1] / "privacy_corpus"


def _texts() -> list[str]:
    texts: list[str] = []
    for path in (
        CORPUS / "positives.jsonl",
        CORPUS / "negatives.jsonl",
        CORPUS / "realistic" / "tuning.jsonl",
        CORPUS / "realistic" / "heldout.jsonl",
    ):
        for line in path.read_text("utf-8").splitlines():
            text = str(json.loads(line)["text"]).replace("\b", "")
            # Each line and Tab-separated field as the text buffer judges it, and whole.
            texts.append(text)
            texts.extend(part for part in text.replace("\t", "\n").split("\n") if part)
    return texts


def test_the_cue_look_up_changes_no_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _texts()
    with_cues = [detect(text) for text in texts]
    monkeypatch.setattr(detect_words, "has_cue", lambda text, cues: True)
    without = [detect(text) for text in texts]
    differ = [t for t, a, b in zip(texts, with_cues, without, strict=True) if a != b]
    assert differ == []


def test_word_keys_are_the_beginnings_of_each_word() -> None:
    keys = detect_words.word_keys("Patient DOB: x")
    assert {"pa", "pat", "pati", "do", "dob"} <= keys
    assert detect_words.has_cue("Geburtsdatum 1.2.1960", detect_words.cues("geb"))
    assert not detect_words.has_cue("the quick brown fox", detect_words.cues("geb dob"))


def test_a_cue_key_longer_than_the_keys_kept_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 4 letters"):
        detect_words.cues("patient")
