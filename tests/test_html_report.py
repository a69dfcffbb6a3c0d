"""The HTML report: its data, its safety, and the page as a real headless Chromium shows it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from dedup import cluster, read_path
from dedup.cli import app
from dedup.write import result_to_dict, validate_document
from dedup.write.html import (
    article_metadata,
    boilerplate_spans,
    build_report,
    embed_json,
    report_data,
    word_diff,
    write_report,
)
from tests.browser import launch, require_chromium

runner = CliRunner()
PAYLOAD_SCRIPT = "<script>window.__pwned=1</script>"
PAYLOAD_IMG = '<img src=x onerror="window.__pwned=1">'


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds_run(seeds_dir):
    read = read_path(seeds_dir)
    result = cluster(read.articles, skipped=read.skipped)
    texts = {article.id: article.text for article in read.articles}
    return read, result, texts


@pytest.fixture(scope="module")
def seeds_page(seeds_run) -> str:
    read, result, texts = seeds_run
    return build_report(
        result, texts, boilerplate_spans(texts), article_metadata(read.articles), title="dedup report: seeds/"
    )


@pytest.fixture(scope="module")
def browser():
    executable = require_chromium()
    with launch(executable) as running:
        yield running


@pytest.fixture(scope="module")
def seeds_report_file(seeds_page, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "seeds.html"
    write_report(path, seeds_page)
    return path


# --- the page as text -------------------------------------------------------------------------------------


class _Resources(HTMLParser):
    """Every URL-bearing attribute, every tag, and the text of style elements."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in {"src", "href", "srcset", "action", "poster", "data", "formaction", "background"}:
                self.urls.append((tag, name, value or ""))
            if name == "style":
                self.styles.append(value or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def test_page_loads_nothing_from_outside(seeds_page):
    parser = _Resources()
    parser.feed(seeds_page)
    assert parser.urls == []  # no src/href at all: nothing to fetch, local or remote
    tags = [tag for tag, _ in parser.tags]
    assert {"link", "img", "iframe", "object", "embed", "base"}.isdisjoint(tags)
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert all("src" not in attrs for attrs in scripts)
    assert [attrs.get("type") for attrs in scripts] == ["application/json", None]
    css = "\n".join(parser.styles)
    assert "@import" not in css
    assert not re.search(r"url\s*\(", css)
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", css)


def test_content_security_policy_allows_only_the_page_script(seeds_page):
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', seeds_page).group(1)
    assert "default-src 'none'" in policy
    script = re.search(r"<script>(.*?)</script>", seeds_page, re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]


def test_embedded_json_cannot_close_its_script_tag():
    nasty = {"text": "</script><script>alert(1)</script> & <!-- \u2028", "id": "<b>"}
    embedded = embed_json(nasty)
    assert "<" not in embedded and ">" not in embedded and "&" not in embedded
    assert json.loads(embedded) == nasty


def test_same_input_same_page(seeds_run, seeds_page):
    read, result, texts = seeds_run
    again = build_report(
        result, texts, boilerplate_spans(texts), article_metadata(read.articles), title="dedup report: seeds/"
    )
    assert again == seeds_page


def _blob(page: str) -> dict:
    raw = re.search(r'<script type="application/json" id="dedup-data">(.*?)</script>', page, re.DOTALL).group(1)
    return json.loads(raw)


def test_data_holds_clusters_pairs_and_only_needed_texts(seeds_page, seed_texts):
    data = _blob(seeds_page)
    assert [c["id"] for c in data["clusters"]] == ["c0001", "c0002"]
    derived = data["clusters"][0]
    assert derived["pairs"][0]["source"] == "000_41bc1a141fd2626e"
    assert derived["pairs"][0]["target"] == "001_ed645eac0db3a975"
    assert set(data["articles"]) == {
        "000_41bc1a141fd2626e",
        "001_ed645eac0db3a975",
        "002_8381a8027f4054b1",
        "004_934651e998fe7ba4",
    }  # the singleton's text is not carried
    for article_id, article in data["articles"].items():
        assert article["text"] == seed_texts[article_id]
    kinds = {p["kind"] for p in data["passages"].values()}
    assert kinds == {"verbatim", "rewrite"}
    for passage in data["passages"].values():
        assert ("changed_source" in passage) == (passage["kind"] == "rewrite")


def test_without_texts_the_passages_make_the_pieces(seeds_run):
    _, result, texts = seeds_run
    document = result_to_dict(result, texts)
    data = report_data(document)
    for article_id, article in data["articles"].items():
        assert "text" not in article
        for begin, piece in article["pieces"]:
            assert texts[article_id][begin : begin + len(piece)] == piece
        starts = [begin for begin, _ in article["pieces"]]
        assert starts == sorted(starts)


def test_a_text_that_does_not_match_the_passages_is_not_used(seeds_run):
    _, result, texts = seeds_run
    wrong = dict(texts, **{"001_ed645eac0db3a975": "something else entirely"})
    data = report_data(result_to_dict(result, texts), wrong)  # passages from the right texts, shown with a wrong one
    assert "text" not in data["articles"]["001_ed645eac0db3a975"]
    assert data["articles"]["000_41bc1a141fd2626e"]["text"] == texts["000_41bc1a141fd2626e"]


def test_word_diff_marks_the_changed_words():
    source, target = word_diff("Xi plans to travel to Kazakhstan this week", "Xi will travel to Kazakhstan next week")
    assert [("Xi plans to travel to Kazakhstan this week"[b:e]) for b, e in source] == ["plans to", "this"]
    assert [("Xi will travel to Kazakhstan next week"[b:e]) for b, e in target] == ["will", "next"]
    assert word_diff("Same words, same order.", "same words same order") == ([], [])


@given(st.text(max_size=80), st.text(max_size=80))
def test_word_diff_ranges_are_ordered_word_runs(source, target):
    for text, ranges in zip((source, target), word_diff(source, target), strict=True):
        position = 0
        for begin, end in ranges:
            assert position <= begin < end <= len(text)
            assert not text[begin].isspace() and not text[end - 1].isspace()
            position = end


# --- the page in Chromium ---------------------------------------------------------------------------------

_HIGHLIGHTS = """
(() => {
  const out = {};
  for (const side of ["source", "target"]) {
    const pane = document.querySelector(".pane-" + side + " .text");
    out[side] = {
      id: pane.dataset.article,
      marks: Array.from(pane.querySelectorAll("[data-b]")).map(e => ({
        b: +e.dataset.b, e: +e.dataset.e, p: (e.dataset.p || "").split(" ").filter(Boolean), cls: e.className}))
    };
  }
  return out;
})()
"""


def _show(page, cluster_id: str) -> dict:
    page.click(f'tr[data-cluster="{cluster_id}"] button')
    heading = "document.querySelector('#detail h2')"
    page.wait_for(f"{heading} && {heading}.textContent.includes('{cluster_id}')")
    return page.evaluate(_HIGHLIGHTS)


def _passages_at(marks: list[dict], span: tuple[int, int]) -> set[str]:
    return {p for m in marks if m["b"] < span[1] and span[0] < m["e"] for p in m["p"]}


def _expected_pairs(expected: dict) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(cluster members key, {doc: snippet} for each side) for every expected passage."""
    found = []
    for reference in expected["clusters"]:
        for passage in reference["passages"]:
            if "derived" in passage:
                sides = {passage["derived"]: passage["derived_snippet"], reference["origin"]: passage["origin_snippet"]}
            else:
                sides = {passage["a"]: passage["a_snippet"], passage["b"]: passage["b_snippet"]}
            found.append((passage["kind"], sides, reference))
    return found


def test_seeds_report_in_chromium(browser, seeds_report_file, expected, seed_texts, tmp_path):
    page = browser.new_page(1400, 1000)
    seconds = page.navigate(seeds_report_file.as_uri())
    assert seconds < 30
    shot = page.screenshot(tmp_path / "seeds-report.png")
    print(f"screenshot: {shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    assert page.evaluate("document.querySelectorAll('#overview tbody tr').length") == 2

    cluster_ids = {"000_41bc1a141fd2626e": "c0001", "002_8381a8027f4054b1": "c0002"}
    checked = 0
    for kind, sides, reference in _expected_pairs(expected):
        cluster_id = next(cluster_ids[m] for m in reference["members"] if m in cluster_ids)
        shown = _show(page, cluster_id)
        by_doc = {shown["source"]["id"]: shown["source"], shown["target"]["id"]: shown["target"]}
        assert set(by_doc) == set(sides)
        linked = None
        for doc, snippet in sides.items():
            begin = seed_texts[doc].index(snippet)
            ids = _passages_at(by_doc[doc]["marks"], (begin, begin + len(snippet)))
            assert ids, f"{kind} passage {snippet!r} is not highlighted in {doc}"
            linked = ids if linked is None else linked & ids
        assert linked, f"the two sides of {sides} are highlighted but not linked to one passage"
        checked += 1

        # A real click on the target side marks the partner on the source side and scrolls it into view.
        target_doc = shown["target"]["id"]
        begin = seed_texts[target_doc].index(sides[target_doc])
        mark = next(
            m
            for m in shown["target"]["marks"]
            if m["p"] and m["b"] < begin + len(sides[target_doc]) and begin < m["e"] and set(m["p"]) & linked
        )
        page.click(f'.pane-target [data-b="{mark["b"]}"]')
        selected = page.evaluate("window.dedupReport.state.selected")
        assert selected in mark["p"]
        partner = page.evaluate(
            """(() => {
              const pane = document.querySelector('.pane-source .text');
              const marked = Array.from(pane.querySelectorAll('.sel'));
              if (!marked.length) return null;
              const box = pane.getBoundingClientRect(), first = marked[0].getBoundingClientRect();
              return {count: marked.length, visible: first.top >= box.top - 1 && first.bottom <= box.bottom + 1,
                      own: document.querySelectorAll('.pane-target .text .sel').length,
                      inspector: !document.getElementById('inspector').hidden};
            })()"""
        )
        assert partner is not None and partner["count"] > 0 and partner["own"] > 0
        assert partner["visible"], "the partner passage was not scrolled into view"
        assert partner["inspector"]
    assert checked == 9

    # Word-level differences of a rewrite: shown in the text and in the inspector.
    shown = _show(page, "c0001")
    rewrite = next(m for m in shown["target"]["marks"] if " r" in f" {m['cls']}" and m["p"])
    page.click(f'.pane-target [data-b="{rewrite["b"]}"]')
    assert page.evaluate("document.querySelectorAll('.chg-on').length") > 0
    assert page.evaluate("document.querySelectorAll('#inspector .del').length") > 0
    assert page.evaluate("document.querySelectorAll('#inspector .ins').length") > 0

    # Boilerplate is greyed, and styled apart from new text.
    for item in expected["boilerplate"]:
        doc = item["doc"]
        if doc not in {"000_41bc1a141fd2626e", "001_ed645eac0db3a975"}:
            continue
        begin = seed_texts[doc].index(item["snippet"])
        side = "source" if doc == shown["source"]["id"] else "target"
        assert any("bp" in m["cls"].split() for m in shown[side]["marks"] if m["b"] <= begin < m["e"]), item["snippet"]

    page.screenshot(tmp_path / "seeds-report-selected.png")
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests
    assert page.errors == []


def test_keyboard_and_hash_navigation(browser, seeds_report_file):
    page = browser.new_page()
    page.navigate(seeds_report_file.as_uri() + "#cluster=c0002")
    assert page.evaluate("document.querySelector('.pane-target .text').dataset.article") == "004_934651e998fe7ba4"
    page.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "n", "text": "n"})
    page.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "n"})
    page.wait_for("window.dedupReport.state.selected !== null")
    assert page.evaluate("document.querySelectorAll('.pane-source .sel').length") > 0
    assert page.errors == []


def _xss_corpus(folder: Path) -> None:
    story = (
        "The city council approved the new harbour budget on Tuesday after a long debate about repairs. "
        f"Officials said the money would pay for two new piers {PAYLOAD_SCRIPT} and a wider channel.\n"
        f"The mayor told reporters that work would start in spring {PAYLOAD_IMG} and end before the summer festival.\n"
        "Opposition members said the plan ignored the fishing fleet and asked for a second vote next month.\n"
    )
    records = [
        {"id": "wire/harbour.txt", "title": f"Harbour budget {PAYLOAD_SCRIPT}", "outlet": PAYLOAD_IMG, "text": story},
        {
            "id": f"copy/{PAYLOAD_IMG}",
            "title": "</script><script>window.__pwned=1</script>",
            "outlet": "Daily <b>Copy</b>",
            "text": "Local view.\n" + story + "Readers can comment below.\n",
        },
    ]
    (folder / "articles.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")


def test_article_markup_is_shown_never_run(browser, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _xss_corpus(corpus)
    report = tmp_path / "xss.html"
    outcome = runner.invoke(app, ["cluster", str(corpus), "--html", str(report), "--quiet"])
    assert outcome.exit_code == 0, outcome.output
    source = report.read_text(encoding="utf-8")
    assert source.count("<script") == 2 and source.count("</script>") == 2  # only the page's own two

    page = browser.new_page()
    page.navigate(report.as_uri())
    assert page.evaluate("typeof window.__pwned") == "undefined"
    text = page.evaluate("document.body.innerText")
    assert PAYLOAD_SCRIPT in text
    assert PAYLOAD_IMG in text
    assert page.evaluate("document.querySelectorAll('main img, main script, .text b, td b').length") == 0
    assert "Daily <b>Copy</b>" in text
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    # Clicking around does not run anything either.
    page.click(".pane-target [data-p]")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.screenshot(tmp_path / "xss-report.png")
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests
    assert page.errors == []


def _big_document(clusters: int, big_members: int) -> tuple[dict, dict[str, str]]:
    """A schema-1 document with ``clusters`` two-member clusters and one of ``big_members`` members."""
    texts: dict[str, str] = {}
    doc_clusters, passages = [], []
    sentence = "Officials confirmed the figures on Monday and said more details would follow. "

    def add_pair(cluster_id: str, origin: str, member: str) -> None:
        passages.append(
            {
                "cluster": cluster_id,
                "source": origin,
                "target": member,
                "source_span": [0, len(sentence) - 1],
                "target_span": [0, len(sentence) - 1],
                "kind": "verbatim",
                "score": 1.0,
                "source_text": sentence[:-1],
                "target_text": sentence[:-1],
            }
        )

    for k in range(clusters):
        origin, member = f"o{k:05d}", f"d{k:05d}"
        texts[origin] = sentence + f"Story number {k}.\n"
        texts[member] = sentence + f"Copied story {k} with a new ending.\n"
        cluster_id = f"c{k + 1:05d}"
        doc_clusters.append(
            {
                "id": cluster_id,
                "relation": "derived",
                "origin": origin,
                "origin_evidence": [{"why": "earliest publication date", "doc": origin, "published": "2024-01-01"}],
                "credited_sources": [],
                "members": [
                    {"id": origin, "role": "origin", "sources": [], "coverage": None, "extent": None},
                    {"id": member, "role": "derived", "sources": [origin], "coverage": 0.7, "extent": "partial"},
                ],
            }
        )
        add_pair(cluster_id, origin, member)
    big_id = f"c{clusters + 1:05d}"
    hub = "hub"
    texts[hub] = sentence + "The original.\n"
    members = [{"id": hub, "role": "origin", "sources": [], "coverage": None, "extent": None}]
    for k in range(big_members - 1):
        member = f"m{k:04d}"
        texts[member] = sentence + f"Copy {k}.\n"
        members.append({"id": member, "role": "derived", "sources": [hub], "coverage": 0.8, "extent": "whole"})
        add_pair(big_id, hub, member)
    doc_clusters.append(
        {
            "id": big_id,
            "relation": "derived",
            "origin": hub,
            "origin_evidence": [],
            "credited_sources": [],
            "members": members,
        }
    )
    document = {
        "schema": 1,
        "clusters": doc_clusters,
        "passages": passages,
        "singletons": [f"s{k:05d}" for k in range(1000)],
        "skipped": [],
        "parameters": {},
    }
    return document, texts


def test_many_clusters_paginate_and_a_200_member_cluster_renders_one_pair(browser, tmp_path):
    document, texts = _big_document(clusters=620, big_members=200)
    assert validate_document(document) == []
    report = tmp_path / "big.html"
    write_report(report, build_report(document, texts))
    page = browser.new_page()
    page.navigate(report.as_uri())
    assert page.evaluate("document.querySelectorAll('#overview tbody tr').length") == 50
    assert "page 1 of 13" in page.evaluate("document.querySelector('#overview .pager').textContent")
    page.click("#overview .pager .next")
    assert page.evaluate("document.querySelector('#overview tbody tr').dataset.cluster") == "c00051"
    assert page.evaluate("document.querySelectorAll('.pane').length") == 2
    # The 200-member cluster, found with the filter, shows 100 member rows a page and one pair side by side.
    page.evaluate(
        "(() => { const i = document.querySelector('#overview input[type=search]'); i.value = 'c00621';"
        " i.dispatchEvent(new Event('change')); })()"
    )
    page.click('tr[data-cluster="c00621"] button')
    assert page.evaluate("document.querySelectorAll('#detail table.members tbody tr').length") == 100
    assert page.evaluate("document.querySelectorAll('.pane').length") == 2
    page.click('tr[data-member="m0050"] button.view')
    assert page.evaluate("document.querySelector('.pane-target .text').dataset.article") == "m0050"
    page.click("#detail .pager .next")
    assert page.evaluate("document.querySelector('#detail table.members tbody tr').dataset.member") == "m0099"
    page.click('tr[data-member="m0150"] button.view')
    assert page.evaluate("document.querySelector('.pane-target .text').dataset.article") == "m0150"
    assert page.evaluate("document.querySelectorAll('*').length") < 5000
    singletons = page.evaluate("document.querySelectorAll('#others li').length")
    assert singletons == 0  # rendered only when opened
    page.evaluate("document.querySelector('#others details').open = true")
    page.wait_for("document.querySelectorAll('#others li').length > 0")
    assert page.evaluate("document.querySelectorAll('#others li').length") == 500
    assert page.errors == []


def test_cli_report_from_a_saved_result(seeds_dir, seed_texts, tmp_path, browser):
    saved = tmp_path / "result.json"
    assert runner.invoke(app, ["cluster", str(seeds_dir), "-o", str(saved), "-q"]).exit_code == 0

    full = tmp_path / "full.html"
    outcome = runner.invoke(app, ["report", str(saved), "-o", str(full), "--articles", str(seeds_dir), "-q"])
    assert outcome.exit_code == 0, outcome.output
    assert all("text" in a for a in _blob(full.read_text(encoding="utf-8"))["articles"].values())

    outcome = runner.invoke(app, ["report", str(saved)])  # no --articles: passages only, next to the result
    assert outcome.exit_code == 0, outcome.output
    partial = saved.with_suffix(".html")
    data = _blob(partial.read_text(encoding="utf-8"))
    assert all("pieces" in a and "text" not in a for a in data["articles"].values())
    page = browser.new_page()
    page.navigate(partial.as_uri())
    assert page.evaluate("document.querySelectorAll('.pane .gap').length") > 0
    assert page.evaluate("document.querySelectorAll('.pane-target [data-p]').length") > 0
    assert "Full text not available" in page.evaluate("document.querySelector('.pane-target').innerText")
    page.click(".pane-target .v")
    assert page.evaluate("document.querySelectorAll('.pane-source .sel').length") > 0
    assert page.errors == []

    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert runner.invoke(app, ["report", str(broken)]).exit_code == 2
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"schema": 1}), encoding="utf-8")
    outcome = runner.invoke(app, ["report", str(wrong)])
    assert outcome.exit_code == 2 and "schema-1" in outcome.stderr
    assert runner.invoke(app, ["report", str(tmp_path / "missing.json")]).exit_code == 2
