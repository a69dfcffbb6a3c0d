"""The run's compact form of its cleaned articles (``pipeline.CleanedCorpus``) against the objects it replaces,
on real texts: the seeds and a generated corpus (Reuters / BBC text, furniture lines, copies and rewrites)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from dedup import engine, pipeline
from dedup.candidates import (
    sentence_signatures,
    sentence_stories,
    short_unit_key,
    unit_stem_sizes,
    unit_stories,
)
from dedup.clean import clean_article, repeated_lines
from dedup.model import Article, PassageTable
from dedup.similarity import (
    PackedCounts,
    article_counts,
    article_vectors,
    sentence_counts,
    sentence_frequencies,
    sentence_matrix,
    stack_rows,
)
from dedup.sketch import SketchSettings


@pytest.fixture(scope="module")
def texts(news_articles: list[Article]) -> list[Article]:
    return [*news_articles, Article("empty", "")]


@pytest.fixture(scope="module")
def run(texts: list[Article]) -> tuple[list, pipeline.CleanedCorpus, list]:
    """The cleaned articles as the pipeline's clean stage makes them, with their sentence stories, and the
    corpus made of the clean batches the way ``cluster`` makes it."""
    repeated = repeated_lines([article.text for article in texts], min_articles=3)
    sketch = SketchSettings()
    cleaned = [clean_article(article, repeated) for article in texts]
    rows, _ = sentence_signatures(cleaned, sketch)
    lists, _ = sentence_stories(cleaned, rows, 0.8, sketch.min_sentence_stems, 3)
    for article, values in zip(cleaned, lists, strict=True):
        article.sentence_stories = values
    batches = [texts[k : k + 37] for k in range(0, len(texts), 37)]
    parts = [part for batch in batches for part in pipeline.clean_batch((repeated, sketch, False), batch)]
    frequency = np.zeros(1 << 20, dtype=np.int64)
    for part in parts:
        frequency[part.features] += part.holders
    units = np.concatenate([part.units for part in parts])
    stories, _ = unit_stories(
        np.vstack([part.sentence_rows for part in parts]),
        0.8,
        np.concatenate([part.unit_sizes for part in parts]),
        [unit for part in parts for unit in part.short_units],
        units,
        sketch.min_sentence_stems,
        3,
    )
    from dedup.similarity import sentence_idf

    corpus = pipeline.CleanedCorpus(
        texts,
        [form for part in parts for form in part.compact],
        units,
        sentence_idf(frequency, int(units.sum())),
        stories,
    )
    return cleaned, corpus, parts


def test_the_corpus_rebuilds_each_cleaned_article(run):
    cleaned, corpus, _ = run
    assert len(corpus) == len(cleaned)
    for index, article in enumerate(cleaned):
        assert corpus.cleaned(index) == article  # tokens, stems, units, boilerplate, credits, sentence stories
    assert pipeline.CleanedCorpus.of(cleaned).cleaned(3) == cleaned[3]


def test_the_stored_facts_read_as_the_cleaned_article(run):
    """What origin inference reads (``CleanedCorpus.facts``, by id through ``by_id``) equals the cleaned article's:
    the tokens made from the text only when read."""
    cleaned, corpus, _ = run
    members = corpus.by_id({article.id: index for index, article in enumerate(cleaned)})
    for index, article in enumerate(cleaned):
        facts = members[article.id]
        assert members[article.id] is facts  # made once
        for name in ("id", "published", "outlet", "credits", "sentences", "evidence_chars"):
            assert getattr(facts, name) == getattr(article, name), name
        assert facts._text is not None  # not tokenized until the tokens are read
        assert facts.tokens == article.tokens and facts.tokens is facts.tokens
        assert facts._text is None
        assert corpus.facts(index).tokens == article.tokens


def test_origin_inference_on_stored_facts_equals_on_cleaned_articles(run, news_articles):
    """Every seed cluster's record, edges and measured members are the same built from the stored facts as from
    the cleaned articles (the verdicts of a real run of the seeds)."""
    from dedup.origin import OriginSettings, build_cluster, measure_members

    cleaned, corpus, _ = run
    result = pipeline.cluster(news_articles, workers=1)
    by_id = {article.id: article for article in cleaned}
    index = {article.id: k for k, article in enumerate(cleaned)}
    settings = OriginSettings()
    built = 0
    for record in result.clusters:
        members = [member.id for member in record.members]
        verdicts = [v for v in result.pairs if v.a in members and v.b in members]
        one = build_cluster(record.id, members, by_id, verdicts, settings)
        other = build_cluster(record.id, members, corpus.by_id({m: index[m] for m in members}), verdicts, settings)
        assert one == other
        incoming: dict[str, list] = {}
        for edge in one[1]:
            incoming.setdefault(edge.target, []).extend(edge.verdict.passages)
        measure_members(one[0], incoming, by_id, settings.whole_coverage)
        measure_members(other[0], incoming, corpus.by_id({m: index[m] for m in members}), settings.whole_coverage)
        assert one[0] == other[0]
        built += 1
    assert built > 3


def test_the_corpus_weighs_rows_equal_to_the_whole_matrix_bit_for_bit(run):
    cleaned, corpus, _ = run
    matrix, bounds = sentence_matrix(cleaned)
    rebuilt = [corpus.cleaned(k) for k in range(len(cleaned))]
    for index, rows in enumerate(corpus.rows(rebuilt)):
        expected = matrix[bounds[index] : bounds[index + 1]]
        assert rows.shape == expected.shape
        assert np.array_equal(rows.indptr, expected.indptr) and np.array_equal(rows.indices, expected.indices)
        assert rows.data.tobytes() == expected.data.tobytes()


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_rows_weighed_in_any_company_are_the_same(run, data):
    # a worker weighs the articles of one batch together: which others are in it changes no bit
    cleaned, corpus, _ = run
    chosen = data.draw(st.lists(st.integers(0, len(cleaned) - 1), min_size=1, max_size=12, unique=True))
    alone = [corpus.rows([corpus.cleaned(k)])[0] for k in chosen]
    together = corpus.rows([corpus.cleaned(k) for k in chosen])
    for one, other in zip(alone, together, strict=True):
        assert one.data.tobytes() == other.data.tobytes() and np.array_equal(one.indices, other.indices)
        assert np.array_equal(one.indptr, other.indptr)


def test_the_batches_shares_add_up_to_the_whole_run(run):
    cleaned, _, parts = run
    counts = sentence_counts(cleaned)
    whole = np.bincount(counts.indices, minlength=counts.shape[1])
    added = np.zeros_like(whole)
    for part in parts:
        added[part.features] += part.holders
    assert np.array_equal(added, whole)
    features, holders = sentence_frequencies(counts)
    assert np.array_equal(features, np.flatnonzero(whole)) and np.array_equal(holders, whole[whole > 0])
    stacked = stack_rows([part.stem_counts for part in parts])  # the parts' counts packed: unpacked one by one
    assert all(isinstance(part.stem_counts, PackedCounts) for part in parts)
    assert (stacked != article_counts(cleaned)).nnz == 0
    assert article_vectors(cleaned).data.tobytes() == article_vectors([], stacked).data.tobytes()
    sizes, short = unit_stem_sizes(cleaned, SketchSettings().min_sentence_stems)
    assert np.array_equal(sizes, np.concatenate([part.unit_sizes for part in parts]))
    assert short == [unit for part in parts for unit in part.short_units]


_stem_sets = st.sets(st.text(st.sampled_from(["a", "b", "\0", "\ud800", "é"]), max_size=3), max_size=4)


@settings(max_examples=300, deadline=None)
@given(_stem_sets, _stem_sets)
def test_short_unit_keys_are_equal_exactly_when_their_stem_sets_are(first, second):
    """The sentence stories number short units by their key (``short_unit_key``): equal keys, equal stem sets."""
    assert (short_unit_key(first) == short_unit_key(second)) == (first == second)
    assert hash(short_unit_key(first)) == hash(short_unit_key(set(first)))


def test_an_empty_corpus_part_weighs_nothing(run):
    _, corpus, _ = run
    assert corpus.rows([]) == []
    (rows,) = corpus.rows([corpus.cleaned(len(corpus) - 1)])  # the empty text
    assert rows.shape[0] == 0


def test_the_pipeline_runs_on_the_corpus_path(texts, tmp_path: Path):
    # a sanity run through ``cluster`` on real texts: the parent holds the compact forms only
    result = pipeline.cluster(texts[:60], workers=1)
    assert result.pairs


def test_a_run_that_keeps_no_pairs_gives_the_same_output(texts):
    """``keep_pairs=False`` (the CLI's run: a verdict held only while the output can read it, screened pairs by
    number) gives the same clusters, origins and passages, and no pairs."""
    kept = pipeline.cluster(texts, workers=2)
    lean = pipeline.cluster(texts, workers=2, keep_pairs=False)
    assert lean.pairs == [] and kept.pairs
    assert any(v.evidence.get("aligned") is False for v in kept.pairs)  # screened pairs were there to drop
    assert lean.clusters == kept.clusters and kept.clusters
    assert isinstance(lean.passages, PassageTable) and lean.passages == kept.passages and len(kept.passages)
    assert list(lean.passages) == list(kept.passages)
    assert (lean.singletons, lean.parameters) == (kept.singletons, kept.parameters)


@settings(max_examples=100, deadline=None)
@given(
    st.sets(st.tuples(st.integers(0, 30), st.integers(0, 30)).filter(lambda p: p[0] != p[1]), max_size=80),
    st.integers(1, 9),
)
def test_local_batches_hold_every_pair_once_in_pieces_of_their_groups(pairs, batch_pairs):
    pairs = sorted(pairs)
    batches, order = pipeline._local_batches(pairs, batch_pairs, 31)
    flat = [(source, target) for batch in batches for source, targets in batch for target in targets]
    assert [pairs[k] for k in order.tolist()] == flat
    assert sorted(order.tolist()) == list(range(len(pairs)))
    # a group's pieces: its targets in pair order, split by region, each region's piece whole
    whole = dict(group for batch in pipeline._groups(pairs, len(pairs) + 1) for group in batch)
    _, region = pipeline.pass_order(np.array(pairs, dtype=np.int64).reshape(-1, 2), 31)
    pieces = [piece for batch in batches for piece in batch]
    for source, targets in pieces:
        assert targets == [target for target in whole[source] if region[target] == region[targets[0]]]
    assert len(pieces) == len({(source, int(region[targets[0]])) for source, targets in pieces})


@settings(max_examples=100, deadline=None)
@given(
    st.sets(st.tuples(st.integers(0, 40), st.integers(0, 40)).filter(lambda p: p[0] < p[1]), max_size=120),
    st.integers(1, 12),
)
def test_pass_regions_stay_within_their_size_and_order_every_article(pairs, most):
    edges = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    graph = sparse.csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(41, 41))
    labels = pipeline.propagated_labels((graph + graph.T).tocsr())
    regions = pipeline.merged_regions(edges, labels, most)
    for label in np.unique(regions).tolist():  # a region is whole communities, within ``most`` if it merged any
        held = np.flatnonzero(regions == label)
        assert set(labels[held].tolist()) == {label} or len(held) <= most
        assert np.all(np.isin(np.flatnonzero(np.isin(labels, labels[held])), held))
    rank, region = pipeline.pass_order(edges, 41, most)
    assert sorted(rank.tolist()) == list(range(41))
    assert np.all(np.diff(region[np.argsort(rank)]) >= 0)  # region after region


def test_label_propagation_finds_two_cliques_joined_by_one_pair():
    cliques = [(a, b) for first in (0, 6) for a in range(first, first + 6) for b in range(a + 1, first + 6)]
    edges = np.array([*cliques, (5, 6)], dtype=np.int64)
    graph = sparse.csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(12, 12))
    labels = pipeline.propagated_labels((graph + graph.T).tocsr())
    assert len(set(labels[:6].tolist())) == 1 and len(set(labels[6:].tolist())) == 1 and labels[0] != labels[6]
    assert len(set(pipeline.merged_regions(edges, labels, 12).tolist())) == 1
    assert len(set(pipeline.merged_regions(edges, labels, 11).tolist())) == 2


def test_a_bounded_number_of_sides_gives_the_same_verdicts(run, monkeypatch):
    # walking backward too (a both-ends pass's second worker: ``engine.walks_backward``): a side is dropped after
    # its first batch, and over the bound the side whose previous batch is furthest back goes first
    cleaned, corpus, _ = run
    pairs = [(s, t) for s in range(0, len(cleaned), 3) for t in range(len(cleaned)) if s < t and (s + t) % 7 == 0]
    batches, order = pipeline._local_batches(pairs, 4, len(corpus))
    found = {}
    for backward in (False, True):
        monkeypatch.setattr(engine, "_backward", backward)
        for most in (len(cleaned), 3):
            sides = pipeline.PreparedArticles(corpus, most)
            numbered = sides.schedule(batches)
            judged: dict[int, list] = {}
            for number, groups in reversed(numbered) if backward else numbered:
                judged[number] = [
                    v for v, _ in pipeline.judge_groups((sides, pipeline.Settings(), False), (number, groups))
                ]
                assert len(sides.held) <= most and sides.held == {k for k, side in enumerate(sides.sides) if side}
                still = numbered[:number] if backward else numbered[number + 1 :]
                assert sides.held <= {k for _, later in still for s, ts in later for k in (s, *ts)}  # used again
            assert not sides.held
            in_order = [verdict for number in sorted(judged) for verdict in judged[number]]
            found[backward, most] = (sides.prepared, dict(zip(order.tolist(), in_order, strict=True)))
        assert found[backward, 3][0] > found[backward, len(cleaned)][0]  # sides dropped early were prepared again
    assert all(verdicts == found[False, 3][1] for _, verdicts in found.values())
    # the groups split by region give the verdicts of whole groups in pair order
    sides = pipeline.PreparedArticles(corpus)
    whole = [
        verdict
        for number, groups in sides.schedule(pipeline._groups(pairs, 4))
        for verdict, _ in pipeline.judge_groups((sides, pipeline.Settings(), False), (number, groups))
    ]
    assert [found[False, 3][1][k] for k in range(len(pairs))] == whole


_ANY_TEXT = st.text(st.characters(exclude_categories=()))  # lone surrogates too: a JSON reader may hand them over


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_ANY_TEXT, _ANY_TEXT, st.none() | _ANY_TEXT, st.none() | _ANY_TEXT), min_size=1, max_size=5))
def test_the_buffers_give_back_each_article_s_fields(records):
    articles = [Article(key, text, outlet=outlet, published=published) for key, text, outlet, published in records]
    corpus = pipeline.CleanedCorpus(
        articles, [b""] * len(articles), np.zeros(len(articles), dtype=np.int64), np.zeros(0)
    )
    for index, article in enumerate(articles):
        again = corpus.article(index)
        assert (again.id, again.text, again.outlet, again.published) == (
            article.id,
            article.text,
            article.outlet,
            article.published,
        )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 70_000), max_size=50), st.integers(0, 2))
def test_narrowed_sizes_are_the_same_numbers(values, scale):
    array = np.array([value * 10**scale for value in values], dtype=np.int64)
    narrowed = pipeline._narrowed(array)
    assert np.array_equal(narrowed.astype(np.int64), array)
    fits = not len(array) or (array.min() >= 0 and array.max() < 2**16)
    assert narrowed.dtype == (np.uint16 if fits else np.int64)


def test_held_verdicts_take_the_runs_own_ids(texts):
    """A verdict held to the end of a lean run points at the run's id strings (one copy an id), with equal values."""
    kept = pipeline.cluster(texts, workers=1)
    verdict = next(v for v in kept.pairs if v.relation != "unrelated" and v.passages)
    copy = pickle.loads(pickle.dumps(verdict))  # as it comes from a worker: its own strings
    names = {article.id: article.id for article in texts}
    held = pipeline.shared_names(pipeline.packed_verdict(copy), names)
    assert held.a is names[verdict.a] and held.b is names[verdict.b]
    assert held.passages.source is names[verdict.passages[0].source]  # type: ignore[attr-defined]
    assert list(held.passages) == list(verdict.passages)
    assert (held.a, held.b, held.relation, held.score, held.evidence) == (
        verdict.a,
        verdict.b,
        verdict.relation,
        verdict.score,
        verdict.evidence,
    )
