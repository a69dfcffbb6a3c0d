"""The compiled detail step (``kernels.detail_runs``: the word-run overlay and the kept words of a pair in one call)
gives what its readable references ``align._overlay_runs`` and ``align._kept_runs`` give: on generated runs over
generated articles, on generated pairs through ``align_sides``, and on real news."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import align
from dedup.align import AlignSettings, detail_settings, prepare, sentence_cosines
from dedup.clean import clean_article
from dedup.model import Article
from dedup.similarity import sentence_vectors

pytest.importorskip("dedup.kernels")  # numba missing: the Python path is all there is

_DETAIL = detail_settings(AlignSettings())
assert _DETAIL is not None

# content words, names in capitals, figures, stopwords, repeated words: kept words, named words and repeats all occur
_VOCABULARY = ["court", "heard", "man", "jailed", "two", "years", "police", "oil", "prices", "fell", "the", "and"]
_VOCABULARY += ["Smith", "London", "2024", "45", "said", "on", "rose", "Reuters", "bank", "rates", "smith"]
_sentence = st.lists(st.sampled_from(_VOCABULARY), min_size=1, max_size=14).map(lambda w: " ".join(w).capitalize())
_texts = st.lists(_sentence, min_size=1, max_size=5).map(lambda sentences: ". ".join(sentences) + ".")


def _sides(source_text: str, target_text: str) -> list[align.Side]:
    cleaned = [clean_article(Article("s", source_text)), clean_article(Article("t", target_text))]
    return [prepare(a, rows) for a, rows in zip(cleaned, sentence_vectors(cleaned), strict=True)]


@st.composite
def _runs(draw: st.DrawFn, source_tokens: int, target_tokens: int, scores: list[float]) -> list[align.TokenRun]:
    """Token runs as ``align_sides`` hands them on (overlapping ones too: the kernel must not lean on their order)."""
    runs = []
    for _ in range(draw(st.integers(0, 8))):
        t_first = draw(st.integers(0, target_tokens - 1))
        t_end = draw(st.integers(t_first + 1, target_tokens))
        s_first = draw(st.integers(0, source_tokens - 1))
        s_end = draw(st.integers(s_first + 1, source_tokens))
        kind = draw(st.sampled_from(["verbatim", "rewrite", "rewrite"]))
        runs.append(
            (s_first, s_end, t_first, t_end, kind, 1.0 if kind == "verbatim" else draw(st.sampled_from(scores)))
        )
    return runs


@st.composite
def _word_rows(draw: st.DrawFn, source_tokens: int, target_tokens: int) -> list[align.WordRun]:
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        t_from = draw(st.integers(0, target_tokens - 1))
        t_to = draw(st.integers(t_from + 1, target_tokens))
        s_from = draw(st.integers(0, max(0, source_tokens - (t_to - t_from))))
        rows.append((t_from, t_to, s_from, s_from + t_to - t_from, draw(st.sampled_from(["verbatim", "rewrite"]))))
    return rows


@settings(max_examples=300, deadline=None)
@given(_texts, _texts, st.data(), st.booleans(), st.booleans())
def test_detail_runs_equal_overlay_then_kept_runs(source_text, target_text, data, overlay, kept_words):
    """The kernel on generated runs and word runs over generated articles, against the two Python steps."""
    source, target = _sides(source_text, target_text)
    source_tokens, target_tokens = len(source.article.tokens), len(target.article.tokens)
    runs = data.draw(_runs(source_tokens, target_tokens, [0.3172, 0.5, 0.9999]))
    words = data.draw(_word_rows(source_tokens, target_tokens)) if overlay else []
    expected = align._overlay_runs(runs, words, target_tokens) if overlay else runs
    if kept_words:
        expected = align._kept_runs(expected, source, target)
    run_settings = dataclasses.replace(_DETAIL, kept_words=kept_words)
    assert align.use_kernels()
    try:
        rows = align._RUN_CODES
        word_rows = [(a, b, c, d, rows[kind]) for a, b, c, d, kind in words]
        found = align._detail_runs_of(runs, word_rows, source, target, overlay, run_settings)
    finally:
        align.use_kernels(False)
    assert found == expected
    assert all(type(value) is int for run in found for value in run[:4])


_SETTINGS = [
    AlignSettings(),
    _DETAIL,
    dataclasses.replace(_DETAIL, word_min_matches=2, word_min_share=0.2, max_edge_gap=3),
    dataclasses.replace(_DETAIL, min_copied_run=0, word_edge=3),
    dataclasses.replace(_DETAIL, kept_words=False),
    dataclasses.replace(_DETAIL, word_alignment=False),
    dataclasses.replace(_DETAIL, sentence_threshold=0.1, context_threshold=0.05, min_shared_stems=1),
]


def _passages(source_text: str, target_text: str, align_settings: AlignSettings, batched: bool, kernels: bool):
    source, target = _sides(source_text, target_text)
    cosine = sentence_cosines(source, [target])[0] if batched else None
    assert align.use_kernels(kernels) == kernels
    try:
        return align.align_sides(source, target, align_settings, cosine)
    finally:
        align.use_kernels(False)


@settings(max_examples=200, deadline=None)
@given(_texts, _texts, st.sampled_from(_SETTINGS), st.booleans())
def test_align_sides_with_the_kernels_equals_it_without(source_text, target_text, align_settings, batched):
    """Each side prepared afresh for each path (the sides' caches fill as they are read)."""
    without = _passages(source_text, target_text, align_settings, batched, False)
    assert _passages(source_text, target_text, align_settings, batched, True) == without


def test_align_sides_with_the_kernels_equals_it_without_on_news(news_articles):
    """Every ordered pair of the seeds and the first generated articles, under the detail settings."""
    cleaned = [clean_article(article) for article in news_articles[:40]]
    rows = sentence_vectors(cleaned)
    fast = [prepare(a, r) for a, r in zip(cleaned, rows, strict=True)]
    slow = [prepare(a, r) for a, r in zip(cleaned, rows, strict=True)]
    compared = passages = 0
    for i, j in itertools.permutations(range(len(cleaned)), 2):
        (cosine,) = sentence_cosines(slow[i], [slow[j]])
        expected = align.align_sides(slow[i], slow[j], _DETAIL, cosine)
        assert align.use_kernels()
        try:
            found = align.align_sides(fast[i], fast[j], _DETAIL, cosine)
        finally:
            align.use_kernels(False)
        assert found == expected
        compared += 1
        passages += len(found)
    assert compared and passages


@st.composite
def _tiles(draw: st.DrawFn, source_tokens: int, target_tokens: int) -> list[align.TokenTile]:
    """Kept tiles as ``_aligned_units`` hands them on (overlapping ones too: the last over a token bounds a stretch)."""
    tiles = []
    for _ in range(draw(st.integers(0, 5))):
        t_first = draw(st.integers(0, target_tokens - 1))
        t_end = draw(st.integers(t_first + 1, min(target_tokens, t_first + 6)))
        s_first = draw(st.integers(0, max(0, source_tokens - (t_end - t_first))))
        tiles.append((s_first, s_first + t_end - t_first, t_first, t_end))
    return tiles


@settings(max_examples=400, deadline=None)
@given(
    _texts,
    _texts,
    st.data(),
    st.sampled_from([1, 2, 3, 6]),
    st.sampled_from([0, 1, 2, 3]),
    st.booleans(),
)
def test_rewrite_runs_equal_token_runs(source_text, target_text, data, max_edge_gap, min_copied_run, word_alignment):
    """The kernel (``kernels.rewrite_runs``) on generated tiles and sentence pairs over generated articles, against
    ``align._token_runs`` (the tiles, then ``_rewrite_runs`` of each pair): the same runs in the same order, the same
    target tokens under a tile."""
    source, target = _sides(source_text, target_text)
    source_tokens, target_tokens = len(source.article.tokens), len(target.article.tokens)
    units = st.tuples(
        st.integers(0, len(source.article.sentences) - 1),
        st.integers(0, len(target.article.sentences) - 1),
        st.sampled_from([0.31725, 0.5, 0.99995, 0.123456789, 1.0]),  # rounding to 4 places
    )
    tiles = data.draw(_tiles(source_tokens, target_tokens))
    pairs = data.draw(st.lists(units, max_size=6))
    run_settings = dataclasses.replace(
        _DETAIL, max_edge_gap=max_edge_gap, min_copied_run=min_copied_run, word_alignment=word_alignment
    )
    expected, expected_tiles = align._token_runs(source, target, tiles, pairs, run_settings)
    assert align.use_kernels()
    try:
        rows, scores, in_tiles = align._rewrite_rows(source, target, tiles, pairs, run_settings)
    finally:
        align.use_kernels(False)
    found = align._token_runs_of(rows, scores)
    assert found == expected
    assert all(type(value) is int for run in found for value in run[:4])
    if word_alignment:
        assert in_tiles.tobytes() == expected_tiles


def test_rewrite_runs_on_news(news_articles):
    """The kernel against ``align._token_runs`` on every ordered pair of the seeds and the first generated articles,
    with the tiles and sentence pairs ``_aligned_units`` finds under the detail settings."""
    cleaned = [clean_article(article) for article in news_articles[:40]]
    sides = [prepare(a, r) for a, r in zip(cleaned, sentence_vectors(cleaned), strict=True)]
    compared = 0
    for i, j in itertools.permutations(range(len(cleaned)), 2):
        found = align._aligned_units(sides[i], sides[j], _DETAIL, None, None, None)
        if found is None:
            continue
        kept, pairs, _ = found
        expected, _ = align._token_runs(sides[i], sides[j], kept, pairs, _DETAIL)
        assert align.use_kernels()
        try:
            rows, scores, _ = align._rewrite_rows(sides[i], sides[j], kept, pairs, _DETAIL)
        finally:
            align.use_kernels(False)
        assert align._token_runs_of(rows, scores) == expected
        compared += bool(pairs)
    assert compared


@settings(max_examples=300, deadline=None)
@given(_texts, _texts, st.data())
def test_sorted_spans_equal_token_spans_sorted(source_text, target_text, data):
    """The spans of kernel rows by numpy (``align._sorted_spans``) against ``token_spans`` of the same runs sorted by
    target span, then source span (stable): runs with equal spans and other kinds or scores keep their order."""
    source, target = _sides(source_text, target_text)
    runs = data.draw(_runs(len(source.article.tokens), len(target.article.tokens), [0.3172, 0.5, 0.9999]))
    runs += data.draw(st.lists(st.sampled_from(runs), max_size=3)) if runs else []  # equal spans
    codes = align._RUN_CODES
    rows = np.array([(a, b, c, d, codes[kind]) for a, b, c, d, kind, _ in runs], dtype=np.int64).reshape(-1, 5)
    scores = np.array([run[5] for run in runs], dtype=np.float64)
    expected = align.token_spans(source.article, target.article, runs)
    expected.sort(key=align._SPAN_ORDER)
    assert align._sorted_spans(source.article, target.article, rows, scores) == expected


_SIGNATURES = """
import json, sys
import numba
import dedup, dedup.pipeline as pipeline
from dedup import align
from dedup.read.files import read_path

pipeline.KERNEL_MIN_PAIRS = 0  # the seeds' few pairs through the kernels
assert align.use_kernels()  # warms them, as a run does before forking its workers
import dedup.kernels as kernels

def signatures():
    dispatchers = [(name, d) for name, d in vars(kernels).items() if isinstance(d, numba.core.registry.CPUDispatcher)]
    return {name: set(map(str, d.signatures)) for name, d in dispatchers}

warmed = signatures()
read = read_path(sys.argv[1])
dedup.cluster(read.articles, skipped=read.skipped, workers=1)  # one process: what it compiles stays here to see
after = signatures()
new = {name: sorted(after[name] - warmed.get(name, set())) for name in after}
print(json.dumps({name: found for name, found in new.items() if found}))
"""


def test_a_warmed_process_compiles_no_kernel_on_the_seeds(tmp_path):
    """``kernels.warm`` (called by ``use_kernels``) loads every signature the pipeline calls: a fresh process that
    warmed the kernels compiles none more while it clusters the seeds through them (a signature missing would be
    compiled by every forked worker of a run whose cache lacks it)."""
    script = tmp_path / "signatures.py"
    script.write_text(_SIGNATURES)
    root = Path(__file__).resolve().parent.parent
    environment = {**os.environ, "PYTHONPATH": str(root), "DEDUP_KERNELS": "1"}
    done = subprocess.run(
        [sys.executable, str(script), str(root / "seeds")],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
        cwd=root,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}
