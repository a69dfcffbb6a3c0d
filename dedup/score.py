"""Pair verdicts: duplicate / derived / same-story / unrelated, from the aligned passages.

The evidence is the set of reused passages. One shared stock phrase or one shared figure
is never enough: a pair needs reuse in at least ``min_sentences`` distinct target
sentences, or one long verbatim run, or most of one side (a one-paragraph brief).
Between the related pairs, *derived* means one text was made from the other (much of
a side is reused, or long verbatim text outside quotations is shared, or one credits
the other's outlet); *same-story* means the overlap is what two reports of one outside
source share (quotes, facts), reworded.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from dedup.clean import CleanArticle
from dedup.credits import credited_sources, own_outlets
from dedup.model import PairVerdict, Passage


@dataclass(slots=True, frozen=True)
class ScoreSettings:
    min_sentences: int = 2
    long_verbatim_tokens: int = 25
    min_reused_chars: int = 100
    duplicate_coverage: float = 0.9
    derived_coverage: float = 0.3
    derived_verbatim_coverage: float = 0.15
    derived_unquoted_verbatim: int = 1000  # off: on METER dev it only added false positives
    derived_credit_coverage: float = 0.15


def covered_chars(spans: list[tuple[int, int]]) -> int:
    """Characters covered by the union of ``spans``."""
    total, reach = 0, -1
    for begin, end in sorted(spans):
        begin = max(begin, reach)
        if end > begin:
            total += end - begin
            reach = end
    return total


def _token_range(article: CleanArticle, span: tuple[int, int]) -> range:
    starts = article.tokens.starts
    return range(bisect.bisect_left(starts, span[0]), bisect.bisect_left(starts, span[1]))


def _sentence_of(article: CleanArticle, offset: int) -> int:
    for index, sentence in enumerate(article.sentences):
        if sentence.span[0] <= offset < sentence.span[1]:
            return index
    return -1


def judge(a: CleanArticle, b: CleanArticle, passages: list[Passage], settings: ScoreSettings) -> PairVerdict:
    """The verdict for ``a`` (source side of ``passages``) and ``b`` (target side)."""
    coverage_a = covered_chars([p.source_span for p in passages]) / max(a.evidence_chars, 1)
    coverage_b = covered_chars([p.target_span for p in passages]) / max(b.evidence_chars, 1)
    verbatim = [p for p in passages if p.kind == "verbatim"]
    verbatim_a = covered_chars([p.source_span for p in verbatim]) / max(a.evidence_chars, 1)
    verbatim_b = covered_chars([p.target_span for p in verbatim]) / max(b.evidence_chars, 1)
    sentences_b = {_sentence_of(b, p.target_span[0]) for p in passages}
    sentences_a = {_sentence_of(a, p.source_span[0]) for p in passages}
    reused_sentences = min(len(sentences_a), len(sentences_b))
    unquoted = sum(1 for p in verbatim for k in _token_range(b, p.target_span) if not b.quoted[k])
    longest_verbatim = max((len(_token_range(b, p.target_span)) for p in verbatim), default=0)
    credit_link = bool(credited_sources(b.credits) & own_outlets(a.credits)) or bool(
        credited_sources(a.credits) & own_outlets(b.credits)
    )
    evidence = {
        "reused_sentences": reused_sentences,
        "unquoted_verbatim_tokens": unquoted,
        "longest_verbatim_tokens": longest_verbatim,
        "credit_link": credit_link,
    }
    short_side_reused = min(
        (coverage_a, covered_chars([p.source_span for p in passages])),
        (coverage_b, covered_chars([p.target_span for p in passages])),
        key=lambda pair: -pair[0],
    )
    related = (
        reused_sentences >= settings.min_sentences
        or longest_verbatim >= settings.long_verbatim_tokens
        or (short_side_reused[0] >= settings.derived_coverage and short_side_reused[1] >= settings.min_reused_chars)
    )
    if not related:
        relation = "unrelated"
    elif min(verbatim_a, verbatim_b) >= settings.duplicate_coverage:
        relation = "duplicate"
    elif (
        max(coverage_a, coverage_b) >= settings.derived_coverage
        or max(verbatim_a, verbatim_b) >= settings.derived_verbatim_coverage
        or unquoted >= settings.derived_unquoted_verbatim
        or (credit_link and max(coverage_a, coverage_b) >= settings.derived_credit_coverage)
    ):
        relation = "derived"
    else:
        relation = "same-story"
    score = sum((p.target_span[1] - p.target_span[0]) * p.score for p in passages) / max(b.evidence_chars, 1)
    return PairVerdict(
        a=a.id,
        b=b.id,
        relation=relation,
        passages=passages,
        coverage_a=coverage_a,
        coverage_b=coverage_b,
        verbatim_a=verbatim_a,
        verbatim_b=verbatim_b,
        score=score,
        evidence=evidence,
    )
