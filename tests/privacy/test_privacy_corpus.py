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
