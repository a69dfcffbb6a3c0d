"""`dedup compare`: the verdict on two articles, their scores and aligned passages, in the terminal and as a page."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from dedup.cli import app
from dedup.compare import compare, comparison_document, comparison_info, load_pair, render_comparison
from dedup.errors import InputError
from dedup.model import Article
from dedup.write import validate_document
from tests.browser import launch, require_chromium

runner = CliRunner()
ORIGIN = "000_41bc1a141fd2626e"
COPY = "001_ed645eac0db3a975"


@pytest.fixture(scope="module")
def derived_pair(seeds_dir):
    return compare(*load_pair([str(seeds_dir / f"{COPY}.txt"), str(seeds_dir / f"{ORIGIN}.txt")]))


def test_derived_pair_points_from_the_origin(derived_pair, seed_texts):
    assert derived_pair.relation == "derived"
    assert derived_pair.source.id == ORIGIN and derived_pair.target.id == COPY
    assert derived_pair.passages
    for passage in derived_pair.passages:
        assert passage.source == ORIGIN and passage.target == COPY
    spans = [p.target_span for p in derived_pair.passages]
    assert spans == sorted(spans)
    verbatim = "The Chinese side is willing to work with the Russian side"
    begin = seed_texts[COPY].index(verbatim)
    assert any(p.kind == "verbatim" and p.target_span[0] <= begin < p.target_span[1] for p in derived_pair.passages)
    scores = derived_pair.scores()
    assert 0 < scores["target coverage"] <= 1 and scores["target coverage"] > scores["source coverage"]
    assert derived_pair.forward.a == COPY and derived_pair.backward.a == ORIGIN  # both directions aligned


def test_order_of_arguments_does_not_change_the_verdict(seeds_dir, derived_pair):
    other = compare(*load_pair([str(seeds_dir / f"{ORIGIN}.txt"), str(seeds_dir / f"{COPY}.txt")]))
    assert other.relation == derived_pair.relation
    assert other.source.id == derived_pair.source.id
    assert [(p.source_span, p.target_span) for p in other.passages] == [
        (p.source_span, p.target_span) for p in derived_pair.passages
    ]


def test_same_story_and_unrelated_pairs(seeds_dir):
    same = compare(*load_pair(["002_8381a8027f4054b1", "004_934651e998fe7ba4"], seeds_dir))
    assert same.relation == "same-story"
    assert same.passages and {p.kind for p in same.passages} == {"verbatim", "rewrite"}
    # The hard negative of expected.json: one stock phrase shared, a different story.
    apart = compare(*load_pair(["003_0e6a0af431b6ad44", ORIGIN], seeds_dir))
    assert apart.relation == "unrelated"
    assert apart.result.clusters == []
    document = comparison_document(apart)
    assert validate_document(document) == []
    assert all(p["cluster"] is None for p in document["passages"])
    assert comparison_info(apart)["relation"] == "unrelated"


def test_two_files_with_the_same_name_get_distinct_ids(tmp_path, seed_texts):
    for folder, name in (("left", ORIGIN), ("right", COPY)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "story.txt").write_text(seed_texts[name], encoding="utf-8")
    a, b = load_pair([str(tmp_path / "left" / "story.txt"), str(tmp_path / "right" / "story.txt")])
    assert a.id == b.id == "story"
    result = compare(a, b)
    assert result.a.id != result.b.id
    assert result.relation == "derived"


def test_load_pair_errors(tmp_path, seeds_dir):
    with pytest.raises(InputError, match="--articles"):
        load_pair(["no-such-file.txt", "other.txt"])
    with pytest.raises(InputError, match="no article with id"):
        load_pair(["nope", ORIGIN], seeds_dir)
    many = tmp_path / "many.jsonl"
    many.write_text('{"id": "x", "text": "one"}\n{"id": "y", "text": "two"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="holds 2 articles"):
        load_pair([str(many), str(many)])
    assert [a.id for a in load_pair(["x", "y"], many)] == ["x", "y"]


def test_terminal_view_is_plain_when_piped_and_never_reads_markup(derived_pair):
    stream = io.StringIO()
    render_comparison(derived_pair, Console(file=stream, width=120, force_terminal=False))
    out = stream.getvalue()
    assert "\x1b[" not in out
    assert "Verdict: derived" in out
    assert "Aligned passages" in out and "verbatim" in out and "rewrite" in out
    assert "China is willing to work with Russia" in out

    tricky = Article(id="a", text="[bold red]Officials said[/] the [link=x]harbour[/link] will reopen on Monday. " * 3)
    copy = Article(id="b", text=tricky.text + "More later.")
    stream = io.StringIO()
    render_comparison(compare(tricky, copy), Console(file=stream, width=200, force_terminal=False))
    assert "Officials said[/] the [link=x]harbour[/link]" in stream.getvalue()


def test_terminal_view_has_colour_on_a_terminal(derived_pair):
    stream = io.StringIO()
    render_comparison(derived_pair, Console(file=stream, width=120, force_terminal=True, color_system="standard"))
    assert "\x1b[" in stream.getvalue()


def test_cli_compare_files_and_ids(seeds_dir, tmp_path):
    outcome = runner.invoke(app, ["compare", str(seeds_dir / f"{ORIGIN}.txt"), str(seeds_dir / f"{COPY}.txt")])
    assert outcome.exit_code == 0, outcome.output
    assert "Verdict: derived" in outcome.stdout and "\x1b[" not in outcome.stdout
    outcome = runner.invoke(
        app, ["compare", "002_8381a8027f4054b1", "004_934651e998fe7ba4", "--articles", str(seeds_dir)]
    )
    assert outcome.exit_code == 0, outcome.output
    assert "Verdict: same-story" in outcome.stdout
    outcome = runner.invoke(app, ["compare", "missing-1", "missing-2"])
    assert outcome.exit_code == 2
    assert "--articles" in outcome.stderr


@pytest.fixture(scope="module")
def browser():
    executable = require_chromium()
    with launch(executable) as running:
        yield running


def test_cli_compare_html_in_chromium(seeds_dir, tmp_path, browser):
    page_file = tmp_path / "compare.html"
    outcome = runner.invoke(
        app, ["compare", str(seeds_dir / f"{COPY}.txt"), str(seeds_dir / f"{ORIGIN}.txt"), "--html", str(page_file)]
    )
    assert outcome.exit_code == 0, outcome.output
    page = browser.new_page()
    page.navigate(page_file.as_uri())
    assert "derived" in page.evaluate("document.querySelector('.verdict').innerText")
    assert page.evaluate("document.querySelector('.pane-source .text').dataset.article") == ORIGIN
    assert page.evaluate("document.querySelector('.pane-target .text').dataset.article") == COPY
    assert page.evaluate("document.querySelectorAll('.pane-target [data-p]').length") > 5
    assert page.evaluate("document.querySelectorAll('#overview tr').length") == 0  # one pair, no cluster list
    page.click(".pane-target .r")
    assert page.evaluate("document.querySelectorAll('.pane-source .sel').length") > 0
    page.screenshot(tmp_path / "compare.png")
    assert all(url.startswith(("file:", "data:")) for url in page.requests)
    assert page.errors == []


def test_cli_compare_html_for_an_unrelated_pair(seeds_dir, tmp_path, browser):
    page_file = tmp_path / "apart.html"
    outcome = runner.invoke(
        app, ["compare", "003_0e6a0af431b6ad44", ORIGIN, "--articles", str(seeds_dir), "--html", str(page_file)]
    )
    assert outcome.exit_code == 0, outcome.output
    data = json.loads(page_file.read_text(encoding="utf-8").split('id="dedup-data">', 1)[1].split("</script>", 1)[0])
    assert data["clusters"][0]["relation"] == "unrelated"
    page = browser.new_page()
    page.navigate(Path(page_file).as_uri())
    assert "unrelated" in page.evaluate("document.querySelector('.verdict').innerText")
    assert page.errors == []
