"""The committed corpus meets the targets: recall on secrets, few negative lines touched."""

from __future__ import annotations

import json
from pathlib import Path

from privacy.check import typed_spans

CORPUS = Path(__file__).parents[1] / "privacy_corpus"


def _rows(name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in (CORPUS / name).read_text("utf-8").splitlines()]


def test_corpus_recall_and_false_positive_targets() -> None:
    missed = 0
    positives = _rows("positives.jsonl")
    for row in positives:
        text = str(row["text"])
        span = row["span"]
        assert isinstance(span, list) and len(span) == 2, row
        start, end = int(span[0]), int(span[1])
        covered = {i for s in typed_spans(text) for i in range(s.start, s.end)}
        if not all(i in covered for i in range(start, end) if not text[i].isspace()):
            missed += 1
    assert missed <= len(positives) // 100
    negatives = _rows("negatives.jsonl")
    touched = sum(1 for row in negatives if typed_spans(str(row["text"])))
    assert touched <= len(negatives) // 100


def test_realistic_corpus_meets_the_issue_20_targets_on_both_splits() -> None:
    """Typed with its pauses and corrections through the daemon's stages: recall on
    identifiers and secrets >= 0.99, on health data >= 0.95, negative lines touched
    <= 1 %, on the tuning split and on the held-out split no rule was fitted to."""
    from bench.privacy_bench import realistic_quality, realistic_rows

    for split in ("tuning", "heldout"):
        q = realistic_quality(realistic_rows(split))
        ids_hit, ids_total = q["recall"]["identifiers_secrets"]
        health_hit, health_total = q["recall"]["health"]
        touched, negatives = q["touched_all"]
        assert ids_hit >= 0.99 * ids_total, (split, ids_hit, ids_total)
        assert health_hit >= 0.95 * health_total, (split, health_hit, health_total)
        assert touched <= 0.01 * negatives, (split, touched, negatives)


def test_the_fresh_set_stays_at_the_issue_20_targets() -> None:
    """The fresh set written without reading the rules (tests/privacy_corpus/
    fresh_typed.jsonl) first scored 0.917 / 0.603 / 6.4 % touched; its misses were then
    fixed per category, so it is a tuning set now, kept at the targets as a guard."""
    from bench.privacy_bench import CORPUS, realistic_quality, rows_from

    q = realistic_quality(rows_from(CORPUS / "fresh_typed.jsonl"))
    ids_hit, ids_total = q["recall"]["identifiers_secrets"]
    health_hit, health_total = q["recall"]["health"]
    touched, negatives = q["touched_all"]
    assert ids_hit >= 0.99 * ids_total, (ids_hit, ids_total)
    assert health_hit >= 0.95 * health_total, (health_hit, health_total)
    assert touched <= 0.01 * negatives, (touched, negatives)
