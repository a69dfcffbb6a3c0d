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
import dataclasses
import re
import string
from dataclasses import dataclass

import numpy as np

from dedup.align import MERGE_GAP, AlignSettings, KgramMatches, Side, alignable_units, may_share_run
from dedup.clean import CleanArticle
from dedup.credits import credited_sources, own_outlets
from dedup.model import PairVerdict, Passage


@dataclass(slots=True, frozen=True)
class ScoreSettings:
    min_sentences: int = 2
    min_sentence_share: float = 0.4
    long_verbatim_tokens: int = 25
    min_reused_chars: int = 100
    brief_coverage: float = 0.5  # fewer than min_sentences reused units relate a pair only when most of one side
    duplicate_coverage: float = 0.9
    derived_coverage: float = 0.3
    derived_verbatim_coverage: float = 0.15
    derived_unquoted_verbatim: int = 1000  # off: on METER dev it only added false positives
    derived_credit_coverage: float = 0.15
    stock_min_stories: int = 8  # a sentence with near-copies in this many separate stories of the run is stock (0: off)
    min_name_share: float = 0.34  # related needs a third of the aligned units' names on both sides (0: off)


def covered_chars(spans: list[tuple[int, int]]) -> int:
    """Characters covered by the union of ``spans``."""
    total, reach = 0, -1
    for begin, end in sorted(spans):
        begin = max(begin, reach)
        if end > begin:
            total += end - begin
            reach = end
    return total


def coverage(article: CleanArticle, spans: list[tuple[int, int]]) -> float:
    """Share of the article's evidence characters (its sentences) that ``spans`` cover, in [0, 1]."""
    if not spans:
        return 0.0  # what the sweep gives, without walking the sentences (most candidate pairs)
    covered = sum(count for count, _ in _unit_cover(article, _merged(spans)))
    return min(1.0, covered / max(article.evidence_chars, 1))


def _unit_cover(article: CleanArticle, merged: list[tuple[int, int]]) -> list[tuple[int, bool]]:
    """Per evidence unit (in text order, not overlapping): the characters ``merged`` (:func:`_merged`) cover in it,
    and whether any merged span overlaps it; one sweep along both."""
    found: list[tuple[int, bool]] = []
    position = 0
    for sentence in article.sentences:
        begin, end = sentence.span
        while position < len(merged) and merged[position][1] <= begin:
            position += 1
        covered = 0
        k = position
        while k < len(merged) and merged[k][0] < end:
            covered += min(end, merged[k][1]) - max(begin, merged[k][0])
            k += 1
        found.append((covered, k > position))
    return found


def _swept(article: CleanArticle, spans: list[tuple[int, int]]) -> tuple[list[tuple[int, bool]] | None, int]:
    """The :func:`_unit_cover` of ``spans`` merged (None when there are none) and their :func:`covered_chars`: what
    :func:`coverage` and :func:`_reused_sentences` sweep, swept once."""
    if not spans:
        return None, 0
    merged = _merged(spans)  # disjoint, non-empty: the union's characters are their lengths
    return _unit_cover(article, merged), sum(end - begin for begin, end in merged)


def _coverage_of(article: CleanArticle, cover: list[tuple[int, bool]] | None) -> float:
    """:func:`coverage` given the :func:`_swept` cover of its spans."""
    if cover is None:
        return 0.0
    return min(1.0, sum(count for count, _ in cover) / max(article.evidence_chars, 1))


def _token_range(article: CleanArticle, span: tuple[int, int]) -> range:
    starts = article.tokens.starts
    return range(bisect.bisect_left(starts, span[0]), bisect.bisect_left(starts, span[1]))


def _reused_sentences(article: CleanArticle, spans: list[tuple[int, int]], min_share: float) -> int:
    """Evidence units of which passages cover at least ``min_share`` (a shared figure or phrase is not reuse).

    The union of ``spans`` is merged once and swept along the units (:func:`_unit_cover`, as :func:`coverage`
    does): the same count as :func:`reference_reused_sentences` (tested).
    """
    if not spans:
        return 0
    return _reused_of(article, spans, _unit_cover(article, _merged(spans)), min_share)


def _reused_of(
    article: CleanArticle, spans: list[tuple[int, int]], cover: list[tuple[int, bool]] | None, min_share: float
) -> int:
    """:func:`_reused_sentences` given ``cover``, the :func:`_unit_cover` of ``spans`` merged (None: no spans)."""
    if cover is None:
        return 0
    # an empty span strictly inside a unit makes it a unit with a passage (covering nothing), as in the reference
    empty = sorted(b for b, e in spans if b == e)
    count = 0
    for sentence, (covered, touched) in zip(article.sentences, cover, strict=True):
        begin, end = sentence.span
        if empty and not touched:
            touched = bisect.bisect_right(empty, begin) < bisect.bisect_left(empty, end)
        if touched and covered >= min_share * (end - begin):
            count += 1
    return count


def reference_reused_sentences(article: CleanArticle, spans: list[tuple[int, int]], min_share: float) -> int:
    """Readable reference for :func:`_reused_sentences`: each unit's clipped spans, their union measured."""
    if not spans:
        return 0
    count = 0
    for sentence in article.sentences:
        begin, end = sentence.span
        inside = [(max(b, begin), min(e, end)) for b, e in spans if b < end and begin < e]
        if inside and covered_chars(inside) >= min_share * (end - begin):
            count += 1
    return count


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of ``spans`` as sorted, disjoint, non-touching spans (empty spans left out)."""
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        elif end > begin:
            merged.append((begin, end))
    return merged


UnitBounds = tuple[list[int], list[int]]  # each evidence unit's first and end character offset, in unit order


def unit_bounds(article: CleanArticle, side: Side | None = None) -> UnitBounds:
    """Each evidence unit's first and end character offset (both ascending: the units come in text order and do not
    overlap), kept on the prepared ``side`` when there is one (an article is judged in many pairs)."""
    if side is not None and side.unit_bounds is not None:
        return side.unit_bounds
    found = ([s.span[0] for s in article.sentences], [s.span[1] for s in article.sentences])
    if side is not None:
        side.unit_bounds = found
    return found


def _touched_units(bounds: UnitBounds, merged: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """The units that some span of ``merged`` (:func:`_merged`) overlaps, in order, and the characters those spans
    cover in each: the units :func:`_unit_cover` marks touched, with its counts (every other unit's is 0). Each
    span's units by two binary searches, not a step a unit."""
    begins, ends = bounds
    units: list[int] = []
    counts: list[int] = []
    for begin, end in merged:
        for k in range(bisect.bisect_right(ends, begin), bisect.bisect_left(begins, end)):
            unit_begin, unit_end = begins[k], ends[k]  # min and max inline: no call a unit
            covered = (unit_end if unit_end < end else end) - (unit_begin if unit_begin > begin else begin)
            if units and units[-1] == k:  # the unit the previous span ended in (only it can be shared)
                counts[-1] += covered
            else:
                units.append(k)
                counts.append(covered)
    return units, counts


def _side_measures(
    article: CleanArticle, bounds: UnitBounds, spans: list[tuple[int, int]], min_share: float
) -> tuple[int, int, int]:
    """For non-empty ``spans`` on ``article``: the evidence characters they cover (:func:`coverage`'s numerator), the
    characters of their union (:func:`covered_chars`) and the units they reuse (:func:`_reused_sentences`)."""
    merged = _merged(spans)
    units, counts = _touched_units(bounds, merged)
    chars = sum(end - begin for begin, end in merged)
    if any(begin == end for begin, end in spans):  # an empty span may mark a unit (see _reused_of): rare, swept
        return sum(counts), chars, _reused_of(article, spans, _unit_cover(article, merged), min_share)
    begins, ends = bounds
    reused = sum(1 for k, covered in zip(units, counts, strict=True) if covered >= min_share * (ends[k] - begins[k]))
    return sum(counts), chars, reused


def _covered_share(article: CleanArticle, bounds: UnitBounds, spans: list[tuple[int, int]]) -> float:
    """:func:`coverage` of ``spans``, its units found by :func:`_touched_units`."""
    if not spans:
        return 0.0
    return min(1.0, sum(_touched_units(bounds, _merged(spans))[1]) / max(article.evidence_chars, 1))


MIN_VERBATIM_EVIDENCE = 3  # tokens: the shortest verbatim tile; single copied words inside a rewrite are not


def is_verbatim_run(target: CleanArticle, passage: Passage) -> bool:
    """A verbatim passage long enough to count as evidence of copying (not a word kept inside a rewrite)."""
    return passage.kind == "verbatim" and len(_token_range(target, passage.target_span)) >= MIN_VERBATIM_EVIDENCE


def stock_spans(article: CleanArticle, min_stories: int) -> list[tuple[int, int]]:
    """Spans of the article's stock sentences: near-copies in at least ``min_stories`` separate stories of the run."""
    if min_stories <= 0 or not article.sentence_stories:
        return []
    return [
        sentence.span
        for sentence, stories in zip(article.sentences, article.sentence_stories, strict=False)
        if stories >= min_stories
    ]


def _mostly_inside(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    inside = [(max(b, span[0]), min(e, span[1])) for b, e in spans if b < span[1] and span[0] < e]
    return bool(inside) and 2 * covered_chars(inside) >= span[1] - span[0]


_NAME = re.compile(r"[A-Z][A-Za-z&'-]*")
# capitalised words that name nothing: articles, titles, pronouns, conjunctions and prepositions starting a
# clause, and the company-form words every company name ends with
_NOT_NAMES = frozenset(
    {"the", "a", "an", "mr", "mrs", "ms", "he", "she", "it", "they", "we", "i", "but", "and", "in", "on", "at"}
    | {"for", "of", "to", "said", "says"}
    | {"corp", "inc", "co", "ltd", "plc", "llc", "group"}
)
_UNIT_LEAD = " \"'\x19\n"  # what may stand before a unit's first word
_NOT_NAMES_OR_LETTERS = _NOT_NAMES | frozenset(string.ascii_lowercase)


# what stands before a unit's first word, with that word when it is capitalised (a match ends where the names begin)
_UNIT_START = re.compile("[" + re.escape(_UNIT_LEAD) + "]*(?:" + _NAME.pattern + ")?")


def _unit_names(text: str, span: tuple[int, int]) -> set[str]:
    """:func:`reference_unit_names` (tested), its first word found once: the reference tests every capitalised word's
    place by stripping the unit's text before it, though only a word at the unit's first character after its lead
    can fail that test (any later word has that character before it). The rest: one ``findall``, one comprehension."""
    begin, end = span
    names = _NAME.findall(text, _UNIT_START.match(text, begin, end).end(), end)  # type: ignore[union-attr]
    if not names:
        return set()
    found = {name.casefold().removesuffix("'s").rstrip("'-") for name in names}
    found.difference_update(_NOT_NAMES_OR_LETTERS)  # a name is ASCII: a word of one character is a letter
    return found


def reference_unit_names(text: str, span: tuple[int, int]) -> set[str]:
    """The capitalised words of a unit, case-folded, its first word left out (a capital there says nothing)."""
    begin, end = span
    found = set()
    for match in _NAME.finditer(text, begin, end):
        word = match.group().casefold().removesuffix("'s").rstrip("'-")
        if len(word) > 1 and word not in _NOT_NAMES and text[begin : match.start()].strip(_UNIT_LEAD):
            found.add(word)
    return found


def _units_at(article: CleanArticle, positions: list[int]) -> list[int | None]:
    """The index of the evidence unit holding each character position (None outside evidence)."""
    starts = [unit.span[0] for unit in article.sentences]
    found: list[int | None] = []
    for position in positions:
        k = bisect.bisect_right(starts, position) - 1
        found.append(k if k >= 0 and position < article.sentences[k].span[1] else None)
    return found


def _names_of(article: CleanArticle, unit: int, side: Side | None) -> set[str]:
    """:func:`_unit_names` of unit ``unit``, kept on the prepared ``side`` when there is one (an article's units
    are looked up again for every pair it is judged in)."""
    if side is None:
        return _unit_names(article.text, article.sentences[unit].span)
    found = side.unit_names.get(unit)
    if found is None:
        found = side.unit_names[unit] = _unit_names(article.text, article.sentences[unit].span)
    return found


def names_kept(
    a: CleanArticle,
    b: CleanArticle,
    passages: list[Passage],
    sides: tuple[Side, Side] | None = None,
    bounds: tuple[UnitBounds, UnitBounds] | None = None,
) -> float | None:
    """:func:`reference_names_kept`, each passage's units found in the sides' :func:`unit_bounds` (``bounds``: the
    two sides', when the caller has them) instead of in a list of unit starts made for each call."""
    if not passages:
        return None
    side_a, side_b = sides if sides is not None else (None, None)
    (begins_a, ends_a), (begins_b, ends_b) = (
        bounds if bounds is not None else (unit_bounds(a, side_a), unit_bounds(b, side_b))
    )
    pairs: set[tuple[int, int]] = set()  # the aligned unit pairs, both sides in evidence
    for position_a, position_b in {(p.source_span[0], p.target_span[0]) for p in passages}:
        unit_a = bisect.bisect_right(begins_a, position_a) - 1
        unit_b = bisect.bisect_right(begins_b, position_b) - 1
        if unit_a >= 0 and position_a < ends_a[unit_a] and unit_b >= 0 and position_b < ends_b[unit_b]:
            pairs.add((unit_a, unit_b))
    names_a: set[str] = set()
    names_b: set[str] = set()
    for unit_a, unit_b in pairs:
        names_a |= _names_of(a, unit_a, side_a)
        names_b |= _names_of(b, unit_b, side_b)
    if not names_a or not names_b:
        return None
    return len(names_a & names_b) / min(len(names_a), len(names_b))


def reference_names_kept(
    a: CleanArticle, b: CleanArticle, passages: list[Passage], sides: tuple[Side, Side] | None = None
) -> float | None:
    """Of the names in the units the passages align, the share both sides hold (over the side with fewer names).

    A rewrite keeps the names it reports on and rewords the rest; a house template ("Standard and Poor's Corp
    said it affirmed the ratings on ... of debt of ...") keeps the wording and changes the names. None when a
    side's aligned units hold no name. ``sides``: ``a`` and ``b`` prepared, whose caches hold the names of
    their units (the same names: :func:`_unit_names` is a function of the text and the unit).
    """
    if not passages:
        return None  # no aligned unit, no name (what the lookups below give, without them)
    units_a = _units_at(a, [p.source_span[0] for p in passages])
    units_b = _units_at(b, [p.target_span[0] for p in passages])
    side_a, side_b = sides if sides is not None else (None, None)
    names_a: set[str] = set()
    names_b: set[str] = set()
    for unit_a, unit_b in set(zip(units_a, units_b, strict=True)):
        if unit_a is not None and unit_b is not None:
            names_a |= _names_of(a, unit_a, side_a)
            names_b |= _names_of(b, unit_b, side_b)
    if not names_a or not names_b:
        return None
    return len(names_a & names_b) / min(len(names_a), len(names_b))


def could_relate(
    source: Side,
    target: Side,
    cosine: np.ndarray | None,
    align: AlignSettings,
    settings: ScoreSettings,
    matches: KgramMatches | None = None,
) -> bool:
    """False when no alignment of the pair can pass :func:`judge`'s relatedness rules: an exact bound, told
    from the sentence cosines before aligning (most candidate pairs of a large run are unrelated).

    Unless the pair may share a standalone tile (``align.may_share_run``), every passage lies in a unit
    pair that alignment could accept (``align.alignable_units``; a merged passage adds at most
    ``MERGE_GAP`` characters between its pieces, which may cover a source unit that short). So the reused
    units, the longest verbatim run and the coverage of each side are bounded by those units; stock
    sentences are not left out of the bound, so it holds for the duplicate test on all passages too.
    ``matches``: ``align.kgram_matches`` at ``min_tile`` if known.
    """
    if may_share_run(source, target, align, matches):
        return True
    a, b = source.article, target.article
    source_units, target_units = alignable_units(source, target, cosine, align)
    live = set(source_units)
    source_units = [i for i, s in enumerate(a.sentences) if i in live or s.span[1] - s.span[0] <= MERGE_GAP]
    if min(len(source_units), len(target_units)) >= settings.min_sentences:
        return True
    target_sentences = [b.sentences[j] for j in target_units]
    if sum(s.last - s.first for s in target_sentences) >= settings.long_verbatim_tokens:
        return True
    target_chars = sum(s.span[1] - s.span[0] for s in target_sentences)
    source_chars = sum(a.sentences[i].span[1] - a.sentences[i].span[0] for i in source_units)
    return max(source_chars / max(a.evidence_chars, 1), target_chars / max(b.evidence_chars, 1)) >= min(
        settings.brief_coverage, 1.0
    )


def judge(
    a: CleanArticle,
    b: CleanArticle,
    passages: list[Passage],
    settings: ScoreSettings,
    sides: tuple[Side, Side] | None = None,
) -> PairVerdict:
    """The verdict for ``a`` (source side of ``passages``) and ``b`` (target side).

    Passages that lie in stock sentences (near-copies in many separate stories of the run)
    stay in the verdict for display but count neither for relatedness nor for derivation;
    only a near-verbatim copy of both whole texts is a duplicate whatever its sentences.
    ``sides``: ``a`` and ``b`` prepared for alignment, when the caller has them (their caches
    spare looking up the same units' names again; the verdict is the same).
    """
    if not passages:
        return _judge_counted(a, b, passages, settings, sides)
    stock_a = stock_spans(a, settings.stock_min_stories)
    stock_b = stock_spans(b, settings.stock_min_stories)
    counted = (
        [p for p in passages if not (_mostly_inside(p.source_span, stock_a) or _mostly_inside(p.target_span, stock_b))]
        if stock_a or stock_b
        else passages  # no stock sentence on either side: every passage counts
    )
    side_a, side_b = sides if sides is not None else (None, None)
    bounds = (unit_bounds(a, side_a), unit_bounds(b, side_b))
    verdict = _judge_counted(a, b, counted, settings, sides, bounds)
    if len(counted) < len(passages):
        whole = _judge_counted(a, b, passages, settings, sides, bounds)
        if whole.relation == "duplicate":
            verdict = whole
        verdict = dataclasses.replace(
            whole,
            relation=verdict.relation,
            evidence={**verdict.evidence, "stock_passages": len(passages) - len(counted)},
        )
    return verdict


def reference_judge_counted(
    a: CleanArticle,
    b: CleanArticle,
    passages: list[Passage],
    settings: ScoreSettings,
    sides: tuple[Side, Side] | None = None,
) -> PairVerdict:
    """The readable reference of :func:`_judge_counted`: each side's units swept one by one, for every measure."""
    # each side's passages merged and swept along its units once, for its coverage, reused units and covered chars
    cover_a, chars_a = _swept(a, [p.source_span for p in passages])
    cover_b, chars_b = _swept(b, [p.target_span for p in passages])
    coverage_a = _coverage_of(a, cover_a)
    coverage_b = _coverage_of(b, cover_b)
    # the verbatim runs (is_verbatim_run), each with its target token range, found once
    runs = [(p, _token_range(b, p.target_span)) for p in passages if p.kind == "verbatim"]
    runs = [(p, tokens) for p, tokens in runs if len(tokens) >= MIN_VERBATIM_EVIDENCE]
    verbatim = [p for p, _ in runs]
    verbatim_a = coverage(a, [p.source_span for p in verbatim])
    verbatim_b = coverage(b, [p.target_span for p in verbatim])
    reused_sentences = min(
        _reused_of(a, [p.source_span for p in passages], cover_a, settings.min_sentence_share),
        _reused_of(b, [p.target_span for p in passages], cover_b, settings.min_sentence_share),
    )
    unquoted = sum(len(tokens) - sum(b.quoted[tokens.start : tokens.stop]) for _, tokens in runs)
    longest_verbatim = max((len(tokens) for _, tokens in runs), default=0)
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
        (coverage_a, chars_a),
        (coverage_b, chars_b),
        key=lambda pair: -pair[0],
    )
    name_share = reference_names_kept(a, b, passages, sides) if settings.min_name_share > 0 else None
    evidence["names_kept"] = None if name_share is None else round(name_share, 4)
    return _verdict(
        a,
        b,
        passages,
        settings,
        evidence,
        name_share,
        short_side_reused,
        coverage_a,
        coverage_b,
        verbatim_a,
        verbatim_b,
    )


def _judge_counted(
    a: CleanArticle,
    b: CleanArticle,
    passages: list[Passage],
    settings: ScoreSettings,
    sides: tuple[Side, Side] | None = None,
    bounds: tuple[UnitBounds, UnitBounds] | None = None,
) -> PairVerdict:
    """The verdict on ``passages`` (all counted): equal to :func:`reference_judge_counted` (tested). Each side's
    units are found from its passages by binary search (:func:`_touched_units`), not swept one by one for each of
    its measures; ``bounds``: the two sides' :func:`unit_bounds`, when the caller has them."""
    if not passages:  # most pairs: every measure 0 and no name (what the reference finds), the credits compared
        evidence = _evidence(a, b, 0, 0, 0)
        evidence["names_kept"] = None
        return _verdict(a, b, passages, settings, evidence, None, (0.0, 0), 0.0, 0.0, 0.0, 0.0)
    side_a, side_b = sides if sides is not None else (None, None)
    bounds_a, bounds_b = bounds if bounds is not None else (unit_bounds(a, side_a), unit_bounds(b, side_b))
    share = settings.min_sentence_share
    source_spans = [p.source_span for p in passages]
    target_spans = [p.target_span for p in passages]
    covered_a, chars_a, reused_a = _side_measures(a, bounds_a, source_spans, share)
    covered_b, chars_b, reused_b = _side_measures(b, bounds_b, target_spans, share)
    coverage_a = min(1.0, covered_a / max(a.evidence_chars, 1))
    coverage_b = min(1.0, covered_b / max(b.evidence_chars, 1))
    # the verbatim runs (is_verbatim_run), each with its target token range, found once
    runs = [(p, _token_range(b, p.target_span)) for p in passages if p.kind == "verbatim"]
    runs = [(p, tokens) for p, tokens in runs if len(tokens) >= MIN_VERBATIM_EVIDENCE]
    verbatim_a = _covered_share(a, bounds_a, [p.source_span for p, _ in runs])
    verbatim_b = _covered_share(b, bounds_b, [p.target_span for p, _ in runs])
    unquoted = sum(len(tokens) - sum(b.quoted[tokens.start : tokens.stop]) for _, tokens in runs)
    longest_verbatim = max((len(tokens) for _, tokens in runs), default=0)
    evidence = _evidence(a, b, min(reused_a, reused_b), unquoted, longest_verbatim)
    short_side_reused = min(
        (coverage_a, chars_a),
        (coverage_b, chars_b),
        key=lambda pair: -pair[0],
    )
    name_share = names_kept(a, b, passages, sides, (bounds_a, bounds_b)) if settings.min_name_share > 0 else None
    evidence["names_kept"] = None if name_share is None else round(name_share, 4)
    return _verdict(
        a,
        b,
        passages,
        settings,
        evidence,
        name_share,
        short_side_reused,
        coverage_a,
        coverage_b,
        verbatim_a,
        verbatim_b,
    )


def _evidence(a: CleanArticle, b: CleanArticle, reused: int, unquoted: int, longest: int) -> dict:
    """A verdict's evidence (``names_kept`` added by the caller), the credit link told without building the credit
    sets when a side has no credit line (it needs one on each side)."""
    credit_link = bool(a.credits and b.credits) and (
        bool(credited_sources(b.credits) & own_outlets(a.credits))
        or bool(credited_sources(a.credits) & own_outlets(b.credits))
    )
    return {
        "reused_sentences": reused,
        "unquoted_verbatim_tokens": unquoted,
        "longest_verbatim_tokens": longest,
        "credit_link": credit_link,
    }


def _verdict(
    a: CleanArticle,
    b: CleanArticle,
    passages: list[Passage],
    settings: ScoreSettings,
    evidence: dict,
    name_share: float | None,
    short_side_reused: tuple[float, int],
    coverage_a: float,
    coverage_b: float,
    verbatim_a: float,
    verbatim_b: float,
) -> PairVerdict:
    """The relation and the verdict, from a pair's measures (:func:`_judge_counted` and its reference)."""
    reused_sentences = evidence["reused_sentences"]
    longest_verbatim = evidence["longest_verbatim_tokens"]
    unquoted = evidence["unquoted_verbatim_tokens"]
    credit_link = evidence["credit_link"]
    related = (name_share is None or name_share >= settings.min_name_share) and (
        reused_sentences >= settings.min_sentences
        or longest_verbatim >= settings.long_verbatim_tokens
        or (short_side_reused[0] >= settings.brief_coverage and short_side_reused[1] >= settings.min_reused_chars)
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
