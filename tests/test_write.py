"""The write stage: the schema-1 JSON document, its checker, and the terminal summary."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import re
import unittest.mock
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from dedup.model import Cluster, Member, Passage, PassageTable, Result, Skipped
from dedup.pipeline import cluster
from dedup.read import read_path
from dedup.write import (
    SCHEMA_VERSION,
    dump_json,
    jsondoc,
    render_summary,
    result_to_dict,
    validate_document,
    write_json,
)
from dedup.write.jsondoc import Streamed, document_pieces, json_bytes, materialized, streamed_document
from dedup.write.terminal import _ranked, shorten

ORIGIN_ID = "wire/2022-09-12-china-russia.txt"
DERIVED_ID = "portal/china-russia-order.txt"
LONELY_ID = "local/harbour-festival.txt"

COPIED = (
    "“The Chinese side is willing to work with the Russian side to continuously implement high-level "
    "strategic cooperation between the two countries,” Yang said."
)
ORIGIN_TEXT = (
    "(Bloomberg) — China is willing to work with Russia to take the global order “in a more just and "
    "reasonable direction,” Beijing’s top diplomat said.\n"
    + COPIED
    + "\nThe meeting came days before Xi Jinping’s first trip abroad since the start of the pandemic.\n"
    "©2022 Bloomberg L.P.\n"
)
DERIVED_TEXT = (
    "Beijing wants a new world order [bold red]x[/], according to Bloomberg.\n"
    + COPIED
    + "\nUzbekistan is hosting a summit for the Shanghai Cooperation Organization this week.\n"
)
LONELY_TEXT = "The harbour festival returns on Saturday with boats, music and food stalls.\n"
TEXTS = {ORIGIN_ID: ORIGIN_TEXT, DERIVED_ID: DERIVED_TEXT, LONELY_ID: LONELY_TEXT}


def _span(text: str, snippet: str) -> tuple[int, int]:
    begin = text.index(snippet)
    return begin, begin + len(snippet)


def make_result() -> Result:
    """Two articles where the second copies a sentence of the first, one singleton, one skipped file."""
    verbatim = Passage(
        source=ORIGIN_ID,
        target=DERIVED_ID,
        source_span=_span(ORIGIN_TEXT, COPIED),
        target_span=_span(DERIVED_TEXT, COPIED),
        kind="verbatim",
        score=0.987654321,
    )
    rewrite = Passage(
        source=ORIGIN_ID,
        target=DERIVED_ID,
        source_span=_span(ORIGIN_TEXT, "China is willing to work with Russia to take the global order"),
        target_span=_span(DERIVED_TEXT, "Beijing wants a new world order [bold red]x[/]"),
        kind="rewrite",
        score=0.61234,
    )
    cluster = Cluster(
        id="c0001",
        relation="derived",
        origin=ORIGIN_ID,
        origin_evidence=[
            {"doc": ORIGIN_ID, "snippet": "(Bloomberg) —", "why": "the outlet's own dateline credit", "span": (0, 13)},
            {
                "doc": DERIVED_ID,
                "snippet": "according to Bloomberg",
                "why": "the derived article credits the origin's outlet",
            },
            {"why": "earliest publication date", "doc": ORIGIN_ID, "published": "2022-09-12"},
        ],
        credited_sources=[],
        members=[
            Member(id=ORIGIN_ID, role="origin"),
            Member(id=DERIVED_ID, role="derived", sources=[ORIGIN_ID], coverage=0.612345678, extent="partial"),
        ],
    )
    return Result(
        clusters=[cluster],
        passages=[verbatim, rewrite],
        singletons=[LONELY_ID],
        skipped=[Skipped(path="broken/feed.json", reason="invalid JSON at line 3")],
        parameters={"shingle_size": 5, "threshold": 0.5, "seed": 1, "inputs": (Path("corpus"),)},
    )


@pytest.fixture
def doc() -> dict:
    return result_to_dict(make_result(), TEXTS)


# --- result_to_dict ---------------------------------------------------------------------------------------


def test_document_keys_in_order(doc: dict) -> None:
    assert list(doc) == ["schema", "clusters", "passages", "singletons", "skipped", "parameters"]
    assert doc["schema"] == SCHEMA_VERSION == 1
    cluster = doc["clusters"][0]
    assert list(cluster) == ["id", "relation", "origin", "origin_evidence", "credited_sources", "members"]
    member_keys = ["id", "role", "sources", "coverage", "extent"]
    assert [list(member) for member in cluster["members"]] == [member_keys, member_keys]
    assert list(doc["passages"][0]) == [
        "cluster",
        "source",
        "target",
        "source_span",
        "target_span",
        "kind",
        "score",
        "source_text",
        "target_text",
    ]
    assert list(doc["skipped"][0]) == ["path", "reason"]


def test_document_values(doc: dict) -> None:
    cluster = doc["clusters"][0]
    assert cluster["id"] == "c0001"
    assert cluster["relation"] == "derived"
    assert cluster["origin"] == ORIGIN_ID
    assert cluster["origin_evidence"][0]["span"] == [0, 13]
    assert cluster["credited_sources"] == []
    origin, derived = cluster["members"]
    assert origin == {"id": ORIGIN_ID, "role": "origin", "sources": [], "coverage": None, "extent": None}
    assert derived == {
        "id": DERIVED_ID,
        "role": "derived",
        "sources": [ORIGIN_ID],
        "coverage": 0.6123,
        "extent": "partial",
    }
    assert doc["singletons"] == [LONELY_ID]
    assert doc["skipped"] == [{"path": "broken/feed.json", "reason": "invalid JSON at line 3"}]
    assert doc["parameters"] == {"shingle_size": 5, "threshold": 0.5, "seed": 1, "inputs": ["corpus"]}


def test_passage_texts_are_the_slices(doc: dict) -> None:
    verbatim, rewrite = doc["passages"]
    assert verbatim["cluster"] == "c0001"
    assert verbatim["kind"] == "verbatim"
    assert verbatim["score"] == 0.9877
    assert rewrite["score"] == 0.6123
    for passage in doc["passages"]:
        source_begin, source_end = passage["source_span"]
        target_begin, target_end = passage["target_span"]
        assert passage["source_text"] == TEXTS[passage["source"]][source_begin:source_end]
        assert passage["target_text"] == TEXTS[passage["target"]][target_begin:target_end]
    assert verbatim["source_text"] == verbatim["target_text"] == COPIED
    assert rewrite["target_text"] == "Beijing wants a new world order [bold red]x[/]"


def test_passage_outside_every_cluster_has_null_cluster() -> None:
    result = make_result()
    result.passages.append(Passage(LONELY_ID, DERIVED_ID, (0, 11), (0, 7), "rewrite", 0.3))
    doc = result_to_dict(result, TEXTS)
    assert doc["passages"][-1]["cluster"] is None
    assert doc["passages"][-1]["source_text"] == "The harbour"
    assert validate_document(doc) == []


def test_document_survives_a_json_round_trip(doc: dict) -> None:
    stream = io.StringIO()
    dump_json(doc, stream)
    assert json.loads(stream.getvalue()) == doc


# --- serialising ------------------------------------------------------------------------------------------


def test_dump_is_deterministic_and_readable() -> None:
    first, second = io.StringIO(), io.StringIO()
    dump_json(result_to_dict(make_result(), TEXTS), first)
    dump_json(result_to_dict(make_result(), dict(reversed(list(TEXTS.items())))), second)
    assert first.getvalue() == second.getvalue()
    assert first.getvalue().endswith("}\n")
    assert "“The Chinese side" in first.getvalue()  # ensure_ascii=False
    assert '\n  "clusters": [' in first.getvalue()  # indent=2


def test_write_json(tmp_path: Path, doc: dict) -> None:
    path = tmp_path / "result.json"
    write_json(doc, path)
    stream = io.StringIO()
    dump_json(doc, stream)
    assert path.read_bytes() == stream.getvalue().encode("utf-8")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_document_refuses_non_finite_numbers(value: float) -> None:
    result = make_result()
    result.passages[0] = dataclasses.replace(result.passages[0], score=value)
    with pytest.raises(ValueError, match="not a JSON number"):
        result_to_dict(result, TEXTS)
    result = make_result()
    result.parameters = {"align": {"sentence_threshold": value}}
    with pytest.raises(ValueError, match="not a JSON number"):
        result_to_dict(result, TEXTS)


def test_dump_writes_what_the_standard_library_writes(doc: dict) -> None:
    doc["parameters"] = {"small": 1e-05, "large": 1e22, "negative": -0.0, "unicode": "“é”", "nested": [[], {}]}
    stream = io.StringIO()
    dump_json(doc, stream)
    standard = json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    assert json.loads(stream.getvalue()) == json.loads(standard)
    del doc["parameters"]["small"], doc["parameters"]["large"]  # written 0.00001 and 1e22, not 1e-05 and 1e+22
    stream = io.StringIO()
    dump_json(doc, stream)
    assert stream.getvalue() == json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


# --- validate_document ------------------------------------------------------------------------------------


def test_valid_document_has_no_problems(doc: dict) -> None:
    assert validate_document(doc) == []


def _problems_after(doc: dict, change) -> list[str]:
    broken = copy.deepcopy(doc)
    change(broken)
    return validate_document(broken)


def test_validate_catches_bad_span(doc: dict) -> None:
    def reversed_span(d: dict) -> None:
        d["passages"][0]["source_span"] = [40, 10]

    def short_span(d: dict) -> None:
        d["passages"][0]["target_span"] = [3]

    def float_span(d: dict) -> None:
        d["passages"][0]["target_span"] = [0.0, 4]

    assert any("passages[0].source_span" in p for p in _problems_after(doc, reversed_span))
    assert any("passages[0].target_span" in p for p in _problems_after(doc, short_span))
    assert any("passages[0].target_span" in p for p in _problems_after(doc, float_span))


def test_validate_catches_text_not_matching_span(doc: dict) -> None:
    def drift(d: dict) -> None:
        d["passages"][0]["source_text"] += "!"

    assert any("source_text" in p for p in _problems_after(doc, drift))


def test_validate_catches_bad_vocabulary(doc: dict) -> None:
    def bad_role(d: dict) -> None:
        d["clusters"][0]["members"][1]["role"] = "copycat"

    def bad_relation(d: dict) -> None:
        d["clusters"][0]["relation"] = "unrelated"

    def bad_kind(d: dict) -> None:
        d["passages"][1]["kind"] = "paraphrase"

    def bad_extent(d: dict) -> None:
        d["clusters"][0]["members"][1]["extent"] = "most"

    assert any("members[1].role" in p and "copycat" in p for p in _problems_after(doc, bad_role))
    assert any("clusters[0].relation" in p for p in _problems_after(doc, bad_relation))
    assert any("passages[1].kind" in p for p in _problems_after(doc, bad_kind))
    assert any("members[1].extent" in p for p in _problems_after(doc, bad_extent))


def test_validate_catches_missing_and_unknown_keys(doc: dict) -> None:
    def no_singletons(d: dict) -> None:
        del d["singletons"]

    def no_member_role(d: dict) -> None:
        del d["clusters"][0]["members"][0]["role"]

    def extra_key(d: dict) -> None:
        d["passages"][0]["colour"] = "red"

    assert _problems_after(doc, no_singletons) == ["document: missing key 'singletons'"]
    assert _problems_after(doc, no_member_role) == ["clusters[0].members[0]: missing key 'role'"]
    assert _problems_after(doc, extra_key) == ["passages[0]: unknown key 'colour'"]


def test_validate_catches_wrong_types_and_references(doc: dict) -> None:
    def bad_schema(d: dict) -> None:
        d["schema"] = 2

    def bad_coverage(d: dict) -> None:
        d["clusters"][0]["members"][1]["coverage"] = "61%"

    def dangling_cluster(d: dict) -> None:
        d["passages"][0]["cluster"] = "c9999"

    def stranger_origin(d: dict) -> None:
        d["clusters"][0]["origin"] = LONELY_ID

    assert any(p.startswith("schema") for p in _problems_after(doc, bad_schema))
    assert any("coverage" in p for p in _problems_after(doc, bad_coverage))
    assert any("c9999" in p for p in _problems_after(doc, dangling_cluster))
    assert any("not a member" in p for p in _problems_after(doc, stranger_origin))
    assert validate_document([]) == ["document: expected an object, got list"]  # type: ignore[arg-type]


def test_schema_doc_example_is_valid() -> None:
    markdown = (Path(__file__).parents[1] / "docs" / "output-schema.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", markdown, flags=re.DOTALL)
    assert blocks, "docs/output-schema.md should hold an example document"
    assert validate_document(json.loads(blocks[-1])) == []


# --- render_summary ---------------------------------------------------------------------------------------


def _render(result: Result, **options) -> str:
    console = Console(file=io.StringIO(), force_terminal=False, width=100)
    render_summary(result, TEXTS, console, **options)
    return console.file.getvalue()


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_summary_shows_clusters_members_and_passages() -> None:
    output = _render(make_result())
    flat = _flat(output)
    assert "3 articles read, 1 skipped, 1 cluster, 1 singleton" in flat
    assert "c0001" in output
    assert "derived" in output
    assert ORIGIN_ID in output and DERIVED_ID in output
    assert "origin" in output and "61.2%" in output and "partial" in output
    assert "the outlet's own dateline credit" in flat
    assert "earliest publication date" in flat and "2022-09-12" in flat
    assert shorten(COPIED) in flat and shorten(COPIED).endswith("…")  # long passages are cut
    assert "Beijing wants a new world order" in flat
    assert flat.index("verbatim 0.99") < flat.index("rewrite 0.61")  # highest score first
    assert LONELY_ID in output
    assert "broken/feed.json" in output and "invalid JSON at line 3" in output


def test_summary_prints_article_markup_literally() -> None:
    output = _render(make_result())
    assert "[bold red]x[/]" in output
    assert "\x1b[" not in output  # no colour codes when not a terminal
    terminal = Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=100)
    render_summary(make_result(), TEXTS, terminal)
    coloured = terminal.file.getvalue()
    assert "\x1b[" in coloured and "[bold red]x[/]" in coloured


def test_summary_limits_passages_and_shortens_text() -> None:
    result = make_result()
    long_text = "word " * 80
    texts = {**TEXTS, DERIVED_ID: DERIVED_TEXT + long_text}
    begin = len(DERIVED_TEXT)
    result.passages.append(Passage(ORIGIN_ID, DERIVED_ID, (0, 13), (begin, begin + len(long_text)), "rewrite", 0.1))
    console = Console(file=io.StringIO(), force_terminal=False, width=100)
    render_summary(result, texts, console, top_passages=1)
    output = console.file.getvalue()
    assert "top 1 of 3" in output
    assert "rewrite 0.61" not in output
    wide = Console(file=io.StringIO(), force_terminal=False, width=200)
    render_summary(result, texts, wide, top_passages=3)
    [line] = [line for line in wide.file.getvalue().splitlines() if "word word" in line]
    assert line.strip() == "target  " + shorten(long_text)
    assert len(shorten(long_text)) <= 100 and shorten(long_text).endswith("word…")


def test_shorten() -> None:
    assert shorten("  short\n text ") == "short text"
    assert shorten("alpha beta gamma delta", 12) == "alpha beta…"
    assert len(shorten("x" * 300)) == 100


def test_summary_origin_outside_the_corpus() -> None:
    result = make_result()
    cluster = result.clusters[0]
    cluster.relation = "same-story"
    cluster.origin = None
    cluster.origin_evidence = []
    cluster.credited_sources = [{"doc": DERIVED_ID, "snippet": "With information from AFP", "source": "AFP"}]
    cluster.members = [Member(id=ORIGIN_ID, role="same-story"), Member(id=DERIVED_ID, role="same-story")]
    flat = _flat(_render(result))
    assert "outside the corpus" in flat
    assert "AFP" in flat and "With information from AFP" in flat
    assert "same-story" in flat
    assert validate_document(result_to_dict(result, TEXTS)) == []


def test_summary_of_an_empty_run() -> None:
    empty = Result(clusters=[], passages=[], singletons=[], skipped=[], parameters={})
    console = Console(file=io.StringIO(), force_terminal=False, width=100)
    render_summary(empty, {}, console)
    output = console.file.getvalue()
    assert "0 articles read, 0 skipped, 0 clusters, 0 singletons" in output
    assert validate_document(result_to_dict(empty, {})) == []


def test_summary_ranks_the_longest_of_equal_scores_first() -> None:
    word = Passage(ORIGIN_ID, DERIVED_ID, (0, 5), (0, 5), "verbatim", 1.0)
    sentence = Passage(ORIGIN_ID, DERIVED_ID, (40, 90), (30, 80), "verbatim", 1.0)
    rewrite = Passage(ORIGIN_ID, DERIVED_ID, (100, 300), (90, 290), "rewrite", 0.6)
    assert _ranked([word, rewrite, sentence]) == [sentence, word, rewrite]


# --- the document written a piece at a time ------------------------------------------------------------------

_JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False).map(lambda value: round(value, 4))
    | st.text()
)
_JSON_VALUES = st.recursive(
    _JSON_LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.tuples(st.booleans(), st.lists(_JSON_VALUES, max_size=4) | _JSON_VALUES),
        max_size=6,
    )
)
def test_document_pieces_are_the_whole_documents_bytes(parts: dict) -> None:
    """Streamed lists (any item: objects, lists, strings with newlines, empty ones) and plain values, in any
    top-level layout, give the bytes orjson gives the whole document."""
    streamed = {
        key: Streamed(lambda items=value: iter(items), len(value)) if lazy and isinstance(value, list) else value
        for key, (lazy, value) in parts.items()
    }
    whole = {key: value for key, (_, value) in parts.items()}
    expected = orjson.dumps(whole, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    for block in (1, 2, 3, jsondoc.BLOCK_ITEMS):  # a Streamed list's items written a block at a time
        with unittest.mock.patch.object(jsondoc, "BLOCK_ITEMS", block):
            assert b"".join(document_pieces(streamed)) == expected
    assert json_bytes(streamed) == expected
    assert materialized(streamed) == whole


def test_streamed_document_writes_the_built_documents_bytes(tmp_path: Path, seeds_dir: Path) -> None:
    """The seeds' result: ``write_json`` and ``dump_json`` of the streamed document (made a passage at a time)
    give the bytes of the document built whole; ``result_to_dict`` is the streamed one made whole."""
    read = read_path(seeds_dir)
    result = cluster(read.articles, skipped=read.skipped, keep_pairs=False)
    texts = {article.id: article.text for article in read.articles}
    whole = result_to_dict(result, texts)
    streamed = streamed_document(result, texts)
    assert isinstance(streamed["passages"], Streamed) and len(streamed["passages"]) == len(whole["passages"]) > 0
    write_json(streamed, tmp_path / "streamed.json")
    assert (tmp_path / "streamed.json").read_bytes() == json_bytes(whole)
    stream = io.StringIO()
    dump_json(streamed, stream)
    assert stream.getvalue().encode("utf-8") == json_bytes(whole)
    assert materialized(streamed) == whole
    # the passages made from the table's columns equal those made one Passage at a time (the readable reference)
    membership = jsondoc.cluster_membership(result.clusters)
    assert isinstance(result.passages, PassageTable)
    assert list(streamed["passages"]) == [jsondoc._passage_dict(p, texts, membership) for p in result.passages]
