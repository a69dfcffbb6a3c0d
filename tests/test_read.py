"""The read stage on real files written to tmp_path: each format, ids, ordering, and every bad input."""

from __future__ import annotations

import codecs
import gzip
import io
import itertools
import json
import logging
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dedup.errors import InputError
from dedup.model import Article, ReadResult, Skipped
from dedup.read import files, read_path, read_stream
from dedup.read.files import stream_path
from dedup.read.jsonrecords import normalise_date, split_lines

SEEDS = Path(__file__).parents[1] / "seeds"

NEWS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Harbour bridge reopens after repairs | The Coastal Times</title>
<meta property="og:title" content="Harbour bridge reopens after three months of repairs">
<meta property="og:site_name" content="The Coastal Times">
<meta name="author" content="Jane Smith">
<link rel="canonical" href="https://coastal-times.example/news/2022/03/harbour-bridge-reopens">
<meta property="article:published_time" content="2022-03-14T08:30:00+00:00">
</head>
<body>
<header><nav><ul>
  <li><a href="/">Home</a></li><li><a href="/news">News</a></li>
  <li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li>
</ul></nav></header>
<main><article>
<h1>Harbour bridge reopens after three months of repairs</h1>
<p class="byline">By Jane Smith · <time datetime="2022-03-14T08:30:00Z">14 March 2022</time></p>
<p>The harbour bridge reopened to traffic on Monday morning after three months of repairs to its
corroded steel cables, the city council said.</p>
<p>Engineers found in November that two of the main cables had lost almost a fifth of their strength,
forcing the council to close the crossing at short notice and divert commuters onto a ferry service.</p>
<p>"We are relieved to have the bridge back," said council leader Maria Lopez. "The repairs came in on
time and slightly under budget, which is rare for a project of this size."</p>
<p>About 40,000 vehicles used the bridge every day before it closed. Local businesses on the northern
shore said their takings had fallen by as much as a third during the closure.</p>
</article></main>
<aside><h3>Related stories</h3><ul>
  <li><a href="/a">Council approves new ferry timetable</a></li>
  <li><a href="/b">Storm damages seafront</a></li>
</ul></aside>
<footer><p>© 2022 The Coastal Times. All rights reserved.</p>
<a href="/privacy">Privacy policy</a> <a href="/terms">Terms of use</a></footer>
</body></html>
"""

# No metadata in <head>: the date is only in a <time> element of the body.
TIME_ONLY_PAGE = """<html><head><title>Council votes on budget - Riverside Herald</title></head><body>
<nav><a href="/">Home</a> | <a href="/politics">Politics</a></nav>
<article><h1>Council votes on budget</h1><p>Published <time datetime="2021-11-02">2 November 2021</time></p>
<p>The council approved its annual budget on Tuesday evening after a long debate about library funding
and road repairs across the district.</p>
<p>Opposition members said the plan relied too heavily on reserves, while the finance chair argued the
reserves existed for exactly this kind of pressure.</p></article>
<footer>Copyright Riverside Herald</footer></body></html>
"""

STORY = "Police closed the coast road on Friday after a landslide.\nNobody was hurt.\n"


def write(path: Path, content: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to ``path``, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def ids(result: ReadResult) -> list[str]:
    return [article.id for article in result.articles]


def reasons(result: ReadResult) -> dict[str, str]:
    return {skipped.path: skipped.reason for skipped in result.skipped}


def only_article(result: ReadResult) -> Article:
    assert result.skipped == []
    assert len(result.articles) == 1
    return result.articles[0]


def only_skip(result: ReadResult) -> Skipped:
    assert result.articles == []
    assert len(result.skipped) == 1
    return result.skipped[0]


# --- plain text ------------------------------------------------------------------------------


def test_txt_file_is_read_as_is(tmp_path: Path) -> None:
    path = write(tmp_path / "landslide.txt", STORY)
    article = only_article(read_path(path))
    assert article == Article(id="landslide", text=STORY, path=str(path))


def test_md_file_is_plain_text(tmp_path: Path) -> None:
    text = "# Landslide\n\nPolice closed the **coast road** on Friday.\n"
    article = only_article(read_path(write(tmp_path / "story.md", text)))
    assert (article.id, article.text, article.title) == ("story", text, None)


def test_utf8_bom_is_stripped_and_offsets_index_the_decoded_text(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbfCaf\xc3\xa9 reopens.\r\nSecond line.")
    article = only_article(read_path(path))
    assert article.text == "Café reopens.\r\nSecond line."


def test_utf16_with_bom_is_decoded(tmp_path: Path) -> None:
    path = write(tmp_path / "wide.txt", "Straße gesperrt.\n".encode("utf-16"))
    assert only_article(read_path(path)).text == "Straße gesperrt.\n"


def test_single_file_with_unknown_extension_is_read_as_text(tmp_path: Path) -> None:
    article = only_article(read_path(write(tmp_path / "wire.log", STORY)))
    assert (article.id, article.text) == ("wire", STORY)


def test_single_file_without_extension(tmp_path: Path) -> None:
    assert only_article(read_path(write(tmp_path / "README", STORY))).id == "README"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")
        | st.sampled_from("\n\t"),
        min_size=1,
    ).filter(str.strip)
)
def test_any_utf8_text_reads_back_unchanged(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "any.txt", text)
    assert only_article(read_path(path)).text == text


# --- HTML ------------------------------------------------------------------------------------


def test_html_news_page_main_text_and_metadata(tmp_path: Path) -> None:
    article = only_article(read_path(write(tmp_path / "bridge.html", NEWS_PAGE)))
    assert article.id == "bridge"
    assert article.title == "Harbour bridge reopens after three months of repairs"
    assert article.published == "2022-03-14"
    assert article.url == "https://coastal-times.example/news/2022/03/harbour-bridge-reopens"
    assert article.outlet == "The Coastal Times"
    assert article.extra.get("author") == "Jane Smith"
    lines = article.text.splitlines()
    assert any(line.startswith("The harbour bridge reopened to traffic") for line in lines)
    assert any(line.startswith("About 40,000 vehicles") for line in lines)
    # one paragraph per line
    assert any(line.startswith("Engineers found in November") for line in lines)
    for boilerplate in (
        "Privacy policy",
        "Terms of use",
        "Related stories",
        "All rights reserved",
        "Weather",
    ):
        assert boilerplate not in article.text


def test_html_date_from_time_element(tmp_path: Path) -> None:
    article = only_article(read_path(write(tmp_path / "budget.htm", TIME_ONLY_PAGE)))
    assert article.id == "budget"
    assert article.published == "2021-11-02"
    assert "approved its annual budget" in article.text
    assert "Politics" not in article.text


@pytest.mark.parametrize(
    "markup",
    [
        "<html><head><title>Nothing</title></head><body><div></div><script>var a = 1;</script></body></html>",
        "<html><body>",
        "<<<>>> </div></p><html <body",
    ],
)
def test_html_without_main_text_is_skipped(tmp_path: Path, markup: str) -> None:
    skipped = only_skip(read_path(write(tmp_path / "broken.html", markup)))
    assert skipped == Skipped(str(tmp_path / "broken.html"), "no main text found in HTML")


# --- JSON and JSON Lines ---------------------------------------------------------------------


def test_json_object_fields_map_onto_article(tmp_path: Path) -> None:
    record = {
        "id": 42,
        "body": STORY,
        "title": "Coast road closed",
        "url": "https://example.org/landslide",
        "source": "Example Daily",
        "date": "Fri, 04 Mar 2022 10:15:00 +0000",
        "section": "local",
        "tags": ["roads", "weather"],
    }
    article = only_article(read_path(write(tmp_path / "one.json", json.dumps(record))))
    assert article == Article(
        id="42",
        text=STORY,
        title="Coast road closed",
        url="https://example.org/landslide",
        outlet="Example Daily",
        published="2022-03-04T10:15:00+00:00",
        path=str(tmp_path / "one.json"),
        extra={"section": "local", "tags": ["roads", "weather"]},
    )


def test_json_object_without_id_takes_the_file_id(tmp_path: Path) -> None:
    path = write(tmp_path / "news" / "landslide.json", json.dumps({"content": STORY, "published": "2022-03-04"}))
    article = only_article(read_path(tmp_path))
    assert (article.id, article.path, article.published) == (
        "news/landslide",
        "news/landslide.json",
        "2022-03-04",
    )
    assert path.exists()


def test_text_field_preference_and_outlet_fallbacks(tmp_path: Path) -> None:
    record = {
        "text": "  ",
        "body": "",
        "content": STORY,
        "outlet": "",
        "publisher": "Wire Service",
        "source": {"id": "ex", "name": "Example Daily"},
    }
    article = only_article(read_path(write(tmp_path / "r.json", json.dumps(record))))
    assert article.text == STORY
    # "source" is first in the fallback order; its object stays in extra so its other keys survive
    assert article.outlet == "Example Daily"
    assert article.extra == {
        "text": "  ",
        "body": "",
        "outlet": "",
        "publisher": "Wire Service",
        "source": {"id": "ex", "name": "Example Daily"},
    }


def test_json_list_ids_default_to_index(tmp_path: Path) -> None:
    records = [{"text": "First story."}, {"id": "named", "text": "Second story."}, {"text": "Third story."}]
    result = read_path(write(tmp_path / "batch.json", json.dumps(records)))
    assert ids(result) == ["batch#0", "named", "batch#2"]
    assert result.skipped == []
    assert {article.path for article in result.articles} == {str(tmp_path / "batch.json")}


def test_json_list_item_that_is_not_an_object_is_skipped(tmp_path: Path) -> None:
    result = read_path(write(tmp_path / "mixed.json", json.dumps([{"text": "Good."}, "just a string"])))
    assert ids(result) == ["mixed#0"]
    assert reasons(result) == {f"{tmp_path / 'mixed.json'}#1": "JSON record is a string, expected an object"}


def test_jsonl_ids_from_field_or_line_number(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a1", "text": "Alpha story.", "published_at": "2022-03-04T10:15:00Z"}),
        "",
        json.dumps({"text": "Beta story.", "datePublished": "March 4th, somewhere"}),
    ]
    result = read_path(write(tmp_path / "feed.jsonl", "\n".join(lines) + "\n"))
    assert ids(result) == ["a1", "feed#3"]
    assert result.articles[0].published == "2022-03-04T10:15:00+00:00"
    assert result.articles[1].published == "March 4th, somewhere"
    assert result.skipped == []


def test_broken_jsonl_line_skips_only_that_line(tmp_path: Path) -> None:
    lines = ['{"id": "a", "text": "Alpha."}', '{"id": "b", "text": "Beta.', '{"id": "c", "text": "Gamma."}']
    path = write(tmp_path / "feed.jsonl", "\n".join(lines))
    result = read_path(path)
    assert ids(result) == ["a", "c"]
    [skipped] = result.skipped
    assert skipped.path == f"{path}:2"
    assert skipped.reason.startswith("invalid JSON: Unterminated string")
    assert "line 2" in skipped.reason


def test_broken_json_reports_the_error_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", '{\n  "text": "Alpha.",\n  "title": oops\n}')
    skipped = only_skip(read_path(path))
    assert skipped.path == str(path)
    assert skipped.reason == "invalid JSON: Expecting value (line 3, column 12)"


def test_json_without_text_field_is_skipped(tmp_path: Path) -> None:
    skipped = only_skip(read_path(write(tmp_path / "meta.json", json.dumps({"about": "not an article"}))))
    assert skipped.reason == "JSON record has no text field (expected one of text, body, content)"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (["para one", "para two"], "JSON field 'text' is a list, expected a string"),
        (17, "JSON field 'text' is a number, expected a string"),
        (None, "JSON field 'text' is null, expected a string"),
        ("   \n", "empty text"),
    ],
)
def test_text_field_that_is_not_usable_text(tmp_path: Path, value: object, reason: str) -> None:
    path = write(tmp_path / "odd.jsonl", json.dumps({"id": "x", "text": value}) + "\n")
    assert only_skip(read_path(path)) == Skipped(f"{path}:1", reason)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("42", "JSON top level is a number, expected an object or a list of objects"),
        ("[]", "empty JSON list"),
    ],
)
def test_json_top_level_that_holds_no_records(tmp_path: Path, content: str, reason: str) -> None:
    assert only_skip(read_path(write(tmp_path / "x.json", content))).reason == reason


@pytest.mark.parametrize(
    ("given_date", "normalised"),
    [
        ("2022-03-04", "2022-03-04"),
        ("20220304", "2022-03-04"),
        ("2022-03-04T10:15:00Z", "2022-03-04T10:15:00+00:00"),
        ("2022-03-04 10:15", "2022-03-04T10:15:00"),
        ("Fri, 04 Mar 2022 10:15:00 GMT", "2022-03-04T10:15:00+00:00"),
        ("last Friday", "last Friday"),
    ],
)
def test_normalise_date(given_date: str, normalised: str) -> None:
    assert normalise_date(given_date) == normalised


# --- gzip ------------------------------------------------------------------------------------


def test_gzip_variants(tmp_path: Path) -> None:
    write(tmp_path / "a.txt.gz", gzip.compress(STORY.encode()))
    write(tmp_path / "b.jsonl.gz", gzip.compress(b'{"text": "Jsonl story."}\n{"id": "c", "text": "C."}\n'))
    write(tmp_path / "d.json.gz", gzip.compress(b'{"text": "Json story."}'))
    write(tmp_path / "e.html.gz", gzip.compress(NEWS_PAGE.encode()))
    write(tmp_path / "f.MD.GZ", gzip.compress(b"Markdown story."))
    result = read_path(tmp_path)
    assert result.skipped == []
    assert ids(result) == ["a", "b#1", "c", "d", "e", "f"]
    assert result.articles[0].text == STORY
    assert result.articles[4].title == "Harbour bridge reopens after three months of repairs"


def test_corrupt_gzip_is_skipped(tmp_path: Path) -> None:
    whole = gzip.compress(STORY.encode() * 20)
    write(tmp_path / "truncated.txt.gz", whole[: len(whole) // 2])
    write(tmp_path / "notgzip.jsonl.gz", b"this was never compressed")
    result = read_path(tmp_path)
    assert result.articles == []
    found = reasons(result)
    assert found.keys() == {"truncated.txt.gz", "notgzip.jsonl.gz"}
    assert all(reason.startswith("corrupt gzip file: ") for reason in found.values())


# --- folders: ids, paths, ordering -----------------------------------------------------------


TREE: dict[str, str | bytes] = {
    "zeta/deeper/last.txt": "Last story.",
    "alpha.md": "Alpha story.",
    "zeta/middle.html": NEWS_PAGE,
    "beta/records.jsonl": '{"text": "Record one."}\n{"id": "r2", "text": "Record two."}\n',
    "beta/notes.csv": "a,b\n1,2\n",
    "beta/image.png": b"\x89PNG\r\n\x1a\n\x00\x00",
    ".hidden.txt": "Hidden story.",
    ".cache/inside.txt": "Hidden folder story.",
}


def make_tree(root: Path, *, reverse: bool = False) -> None:
    """A nested folder with hidden and unsupported files, written in an unsorted order."""
    items = sorted(TREE.items(), reverse=True) if reverse else list(TREE.items())
    for relative, content in items:
        write(root / relative, content)


def test_folder_ids_and_relative_paths(tmp_path: Path) -> None:
    make_tree(tmp_path)
    result = read_path(tmp_path)
    assert result.skipped == []
    assert [(article.id, article.path) for article in result.articles] == [
        ("alpha", "alpha.md"),
        ("beta/records#1", "beta/records.jsonl"),
        ("r2", "beta/records.jsonl"),
        ("zeta/deeper/last", "zeta/deeper/last.txt"),
        ("zeta/middle", "zeta/middle.html"),
    ]


def test_reading_is_deterministic(tmp_path: Path) -> None:
    make_tree(tmp_path / "one")
    make_tree(tmp_path / "two", reverse=True)
    first = read_path(tmp_path / "one")
    assert read_path(tmp_path / "one") == first
    assert read_path(tmp_path / "two") == first


def test_unknown_extensions_in_folders_are_ignored_at_debug_level(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "notes.csv", "a,b\n")
    write(tmp_path / "archive.gz", gzip.compress(b"text"))
    with caplog.at_level(logging.DEBUG, logger="dedup.read"):
        result = read_path(tmp_path)
    assert result == ReadResult([], [])
    assert "ignored notes.csv: unsupported extension" in caplog.messages
    assert all(record.levelno == logging.DEBUG for record in caplog.records)


def test_passing_a_hidden_file_explicitly_reads_it(tmp_path: Path) -> None:
    assert only_article(read_path(write(tmp_path / ".draft.txt", STORY))).text == STORY


def test_symlink_loop_does_not_recurse_forever(tmp_path: Path) -> None:
    write(tmp_path / "story.txt", STORY)
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert ids(read_path(tmp_path)) == ["story"]


def test_dangling_symlink_is_reported(tmp_path: Path) -> None:
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing.txt")
    skipped = only_skip(read_path(tmp_path))
    assert skipped == Skipped("gone.txt", "cannot read file: No such file or directory")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_in_folder_is_skipped_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    assert only_skip(read_path(tmp_path)) == Skipped("pipe.txt", "not a regular file")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "secret.txt", STORY)
    path.chmod(0)
    try:
        assert only_skip(read_path(tmp_path)) == Skipped("secret.txt", "cannot read file: Permission denied")
    finally:
        path.chmod(0o600)


def test_every_supported_file_is_an_article_or_a_skip(tmp_path: Path) -> None:
    make_tree(tmp_path)
    write(tmp_path / "empty.txt", "")
    write(tmp_path / "bin.txt", b"\x00\x01\x02")
    result = read_path(tmp_path)
    accounted = {article.path for article in result.articles} | {skipped.path for skipped in result.skipped}
    assert accounted == {
        "alpha.md",
        "beta/records.jsonl",
        "zeta/deeper/last.txt",
        "zeta/middle.html",
        "empty.txt",
        "bin.txt",
    }


# --- bad inputs ------------------------------------------------------------------------------


def test_missing_path_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_path(tmp_path / "nowhere")


def test_empty_folder_is_not_an_error(tmp_path: Path) -> None:
    assert read_path(tmp_path) == ReadResult([], [])


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  ", b"\xef\xbb\xbf\n"])
def test_empty_and_whitespace_files_are_skipped(tmp_path: Path, content: bytes) -> None:
    assert only_skip(read_path(write(tmp_path / "blank.txt", content))).reason == "empty text"


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",  # NUL bytes
        bytes(range(1, 9)) * 64 + b"some text",  # mostly control bytes, no NUL
    ],
)
def test_binary_file_is_skipped(tmp_path: Path, content: bytes) -> None:
    assert only_skip(read_path(write(tmp_path / "picture.txt", content))).reason == "binary file"


def test_latin1_text_is_decoded_by_charset_detection(tmp_path: Path) -> None:
    text = "Le café du port était plein. Une idée un peu naïve, a-t-il déclaré.\n"
    path = write(tmp_path / "latin1.txt", text.encode("latin-1"))
    assert only_article(read_path(path)).text == text


def test_short_latin1_text_is_decoded(tmp_path: Path) -> None:
    path = write(tmp_path / "short.txt", "café naïve".encode("latin-1"))
    assert only_article(read_path(path)).text == "café naïve"


def test_undecodable_bytes_are_skipped_with_reason(tmp_path: Path) -> None:
    # Valid UTF-8 start, then bytes that make every single-byte code page read as a mess.
    content = "Überschrift\n".encode() + bytes(range(0x80, 0x100)) * 8
    skipped = only_skip(read_path(write(tmp_path / "mess.txt", content)))
    assert skipped.reason.startswith("cannot decode as UTF-8 (invalid start byte at byte 13)")


def test_file_over_max_bytes_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "big.txt", "x" * 101)
    assert only_skip(read_path(path, max_bytes=100)).reason == "file too large (101 bytes > max 100)"
    assert only_article(read_path(path, max_bytes=101)).text == "x" * 101


def test_jsonl_over_max_bytes_is_read_record_by_record(tmp_path: Path) -> None:
    # a crawl dump is a collection: the limit bounds each record, not the file (a 100k-article JSONL is ~200 MB)
    records = [{"id": f"a{k}", "text": f"Story number {k} about the harbour bridge."} for k in range(40)]
    records[7]["text"] = "x" * 500
    path = write(tmp_path / "dump.jsonl.gz", gzip.compress("\n".join(map(json.dumps, records)).encode()))
    result = read_path(path, max_bytes=200)
    assert [a.id for a in result.articles] == [r["id"] for k, r in enumerate(records) if k != 7]
    assert [(s.path, s.reason) for s in result.skipped] == [
        (f"{path}:8", f"record too large ({len(json.dumps(records[7]))} bytes > max 200)")
    ]


def test_jsonl_record_limit_counts_utf8_bytes_on_files_and_stdin(tmp_path: Path) -> None:
    # 70 characters of "é" are 140 bytes: over a 120-byte limit although the line has fewer characters
    records = [{"id": "wide", "text": "é" * 70}, {"id": "ok", "text": "Fine."}]
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    document = "\n".join(lines)
    wide = len(lines[0].encode())
    assert len(lines[0]) < 120 < wide
    expected = f"record too large ({wide} bytes > max 120)"
    from_file = read_path(write(tmp_path / "dump.jsonl", document), max_bytes=120)
    from_stdin = read_stream(io.BytesIO(document.encode()), max_bytes=120)
    for result in (from_file, from_stdin):
        assert [a.id for a in result.articles] == ["ok"]
        assert [s.reason for s in result.skipped] == [expected]


def test_gzip_over_max_bytes_when_decompressed_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "bomb.txt.gz", gzip.compress(b"x" * 10_000))
    reason = only_skip(read_path(path, max_bytes=1000)).reason
    assert reason == "file too large (decompressed size more than max 1000 bytes)"


def test_duplicate_ids_keep_the_first(tmp_path: Path) -> None:
    write(tmp_path / "story.md", "Markdown version.")
    write(tmp_path / "story.txt", "Text version.")
    records = [{"id": "story", "text": "Record."}, {"id": "x", "text": "X."}, {"id": "x", "text": "X again."}]
    write(tmp_path / "wire.jsonl", "".join(json.dumps(record) + "\n" for record in records))
    result = read_path(tmp_path)
    assert [(article.id, article.text) for article in result.articles] == [
        ("story", "Markdown version."),
        ("x", "X."),
    ]
    assert result.skipped == [
        Skipped("story.txt", "duplicate id story (first seen in story.md)"),
        Skipped("wire.jsonl:1", "duplicate id story (first seen in story.md)"),
        Skipped("wire.jsonl:3", "duplicate id x (first seen in wire.jsonl:2)"),
    ]


def test_skips_are_logged_as_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path / "empty.txt", "")
    with caplog.at_level(logging.WARNING, logger="dedup.read"):
        read_path(tmp_path)
    assert [(record.levelno, record.getMessage()) for record in caplog.records] == [
        (logging.WARNING, "skipped empty.txt: empty text")
    ]


# --- streams ---------------------------------------------------------------------------------


def test_stream_of_text_jsonl() -> None:
    stream = io.StringIO('{"id": "s1", "text": "One."}\n\n{"text": "Two.", "outlet": "Wire"}\nnot json\n')
    result = read_stream(stream)
    assert [(article.id, article.outlet, article.path) for article in result.articles] == [
        ("s1", None, "-"),
        ("-#3", "Wire", "-"),
    ]
    assert [skipped.path for skipped in result.skipped] == ["-:4"]
    assert result.skipped[0].reason.startswith("invalid JSON: Expecting value")


def test_stream_of_bytes_with_bom_and_a_name() -> None:
    stream = io.BytesIO(b'\xef\xbb\xbf{"text": "Caf\xc3\xa9 story."}\n')
    article = only_article(read_stream(stream, name="stdin"))
    assert (article.id, article.text) == ("stdin#1", "Café story.")


def test_stream_holding_a_json_list() -> None:
    stream = io.StringIO('[\n  {"text": "One."},\n  {"id": "b", "text": "Two."}\n]\n')
    assert ids(read_stream(stream)) == ["-#0", "b"]


@pytest.mark.parametrize(("content", "reason"), [(b"", "empty text"), (b"\x00\x01binary", "binary file")])
def test_bad_streams_are_skipped(content: bytes, reason: str) -> None:
    assert only_skip(read_stream(io.BytesIO(content))) == Skipped("-", reason)


# --- the seeds -------------------------------------------------------------------------------


@pytest.mark.skipif(not SEEDS.is_dir(), reason="no seeds folder")
def test_seeds_folder() -> None:
    result = read_path(SEEDS)
    expected_ids = sorted(path.stem for path in SEEDS.glob("*.txt"))
    assert len(expected_ids) == 5
    assert ids(result) == expected_ids
    assert ids(result)[0] == "000_41bc1a141fd2626e"
    assert result.skipped == [
        Skipped("expected.json", "JSON record has no text field (expected one of text, body, content)")
    ]
    for article in result.articles:
        assert article.text == (SEEDS / article.path).read_text(encoding="utf-8")


# --- read one article at a time ----------------------------------------------------------------------------------


@given(st.text(alphabet="ab \r\n\x0b\x0c\x1c\x85\u2028{}", max_size=60), st.lists(st.integers(0, 60), max_size=6))
def test_split_lines_of_chunks_are_the_whole_texts_lines(text: str, cuts: list[int]) -> None:
    """Lines from chunks cut anywhere (a ``\\r\\n`` cut in two included) are ``str.splitlines`` of the whole."""
    bounds = [0, *sorted(min(cut, len(text)) for cut in cuts), len(text)]
    chunks = [text[begin:end] for begin, end in itertools.pairwise(bounds)]
    assert list(split_lines(chunks)) == text.splitlines()


def _records(*lines: str) -> bytes:
    return "".join(lines).encode("utf-8")


def test_streamed_reading_gives_what_reading_whole_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Folders and files of every kind: JSON Lines read a (small) chunk at a time, with CRLF and other line breaks,
    blank, bad, too long and repeated records, a BOM, gzip; files that are not UTF-8 (UTF-16, Latin-1, binary,
    corrupt gzip) go the whole-file way: the same articles in the same order, and the same skips."""
    monkeypatch.setattr(files, "CHUNK_BYTES", 7)
    record = '{"id": "%s", "text": "Rain in Spain\\u2028falls %s", "outlet": "Wire"}'
    (tmp_path / "a.jsonl").write_bytes(
        _records(
            record % ("x1", "é"), "\r\n\r\n", "not json\r\n", record % ("x2", "“q”"), "\x85", '{"text": "no id"}\n'
        )
    )
    (tmp_path / "b.jsonl").write_bytes(codecs.BOM_UTF8 + _records(record % ("x1", "again"), "\n", '{"id": 3}'))
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(_records(record % ("z", "zipped"), "\n")))
    (tmp_path / "d.jsonl").write_bytes((record % ("u16", "wide")).encode("utf-16"))
    (tmp_path / "e.jsonl").write_bytes((record % ("lat", "caf\u00e9")).encode("latin-1"))
    (tmp_path / "f.jsonl").write_bytes(b"\x00\x01binary")
    (tmp_path / "g.jsonl.gz").write_bytes(b"\x1f\x8bnot really")
    (tmp_path / "h.jsonl").write_bytes(b"\n \n")
    (tmp_path / "i.jsonl").write_bytes(_records(record % ("long", "x" * 200)))
    (tmp_path / "story.txt").write_text("A plain story.\n", encoding="utf-8")
    for path in (tmp_path, tmp_path / "a.jsonl", tmp_path / "c.jsonl.gz"):
        whole = read_path(path, max_bytes=150)
        streamed = stream_path(path, max_bytes=150)
        assert list(streamed.articles) == whole.articles
        assert streamed.skipped == whole.skipped
    assert {"x1", "x2", "z", "lat", "story"} <= {a.id for a in read_path(tmp_path).articles}


def test_a_missing_path_is_refused_before_streaming(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        stream_path(tmp_path / "missing")
