"""The command line: a thin door onto ``dedup.read``, ``dedup.pipeline`` and ``dedup.write``.

Exit codes: 0 success; 1 unexpected library error; 2 unusable input or setting; 3 no
readable article. Logs and progress go to stderr; stdout carries only the result.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dedup.budget import available_bytes, full_run_bytes, gigabytes, parse_size
from dedup.compare import compare, comparison_document, comparison_info, load_pair, render_comparison
from dedup.errors import DedupError
from dedup.model import Article
from dedup.pipeline import cluster as run_cluster
from dedup.read import read_path, read_stream
from dedup.read.files import ArticleStream, stream_path
from dedup.store.cli import index_app
from dedup.write import dump_json, render_summary, validate_document, write_json
from dedup.write.html import article_metadata, boilerplate_spans, build_report, write_report
from dedup.write.jsondoc import materialized, streamed_document
from dedup.write.tables import FORMATS, write_tables

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find copies and rewrites of wire stories in a set of news articles.",
)
app.add_typer(index_app, name="index")
log = logging.getLogger("dedup")


@app.callback()
def main() -> None:
    """dedup: near-duplicate and syndication detection for news."""


def _configure_logging(verbose: bool, quiet: bool) -> Console:
    stderr = Console(stderr=True)
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(
        level=level, format="%(message)s", handlers=[RichHandler(console=stderr, show_path=False)], force=True
    )
    return stderr


_UNITS = {"align": "pairs", "passages": "pairs"}


def _progress_factory(progress: Progress | None) -> Callable[[str, int], Callable[[int], None]]:
    """Progress callbacks for the pipeline: one bar per stage, with its count and rate."""

    def factory(label: str, total: int) -> Callable[[int], None]:
        if progress is None:
            return lambda advance: None
        task = progress.add_task(label, total=total, rate="")
        unit = _UNITS.get(label, "articles")

        def tick(advance: int) -> None:
            progress.advance(task, advance)
            speed = progress.tasks[task].speed
            progress.update(task, rate=f"{speed:,.0f} {unit}/s" if speed else "")

        return tick

    return factory


@app.command("cluster")
def cluster_command(
    path: Annotated[str, typer.Argument(help="A folder (read recursively), a file, or - for JSONL on stdin.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document (schema 1) to stdout.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the JSON document to FILE.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report to FILE.")] = None,
    tables: Annotated[Path | None, typer.Option("--tables", help="Write the three tables to DIR.")] = None,
    table_format: Annotated[str, typer.Option("--format", help="Table format: jsonl, csv or parquet.")] = "jsonl",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or warnings.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
    copies_only: Annotated[
        bool, typer.Option("--copies-only", help="Whole-article near-duplicates only (fast; no passages).")
    ] = False,
    memory_budget: Annotated[
        str | None,
        typer.Option(
            "--memory-budget",
            metavar="SIZE",
            help="Memory the full run may use (8G, 512M) [what the machine has available]; "
            "a run estimated to need more is refused before it starts.",
        ),
    ] = None,
) -> None:
    """Cluster the articles in PATH by wire story; name each cluster's origin; list derived passages."""
    stderr = _configure_logging(verbose, quiet)
    try:
        budget = parse_size(memory_budget) if memory_budget is not None else None
    except ValueError as error:
        stderr.print(f"dedup: error: --memory-budget: {error}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    started = time.perf_counter()
    if copies_only:
        document = _copies_only(path, json_output, output, quiet, stderr, started)
        # no article texts are kept in this mode: the report shows clusters and members, no passages
        _write_extras(stderr, document, {}, {}, html, tables, table_format, f"dedup report (copies only): {path}")
        return
    metadata: dict[str, dict[str, str | None]] = {}  # what the report and the tables show beside an id
    handed = _HandedOver(budget, metadata if html is not None or tables is not None else None)
    try:
        if path == "-":
            whole = read_stream(sys.stdin.buffer, "-")
            read = ArticleStream(_let_go(whole.articles), whole.skipped)
        else:
            read = stream_path(path)  # a JSON Lines file a chunk at a time
        show_progress = not quiet and stderr.is_terminal
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]}"),
            console=stderr,
            transient=True,
            disable=not show_progress,
        ) as progress:
            result = run_cluster(
                handed(read.articles), skipped=read.skipped, progress=_progress_factory(progress), keep_pairs=False
            )
    except _OverBudget as over:
        _refuse(stderr, over)
    except DedupError as error:
        stderr.print(f"dedup: error: {error}", markup=False, highlight=False)
        raise typer.Exit(error.exit_code) from None
    texts = result.texts  # the run's: decoded from its buffers when a passage is written
    # made a cluster and a passage at a time as each writer reads it: the whole document (its passages carry
    # both texts) was ~24 KB an article as dicts and bytes, more than the run itself held
    document = streamed_document(result, texts)
    if output is not None:
        try:
            write_json(document, output)
        except OSError as error:
            stderr.print(f"dedup: error: cannot write {output}: {error.strerror}", markup=False)
            raise typer.Exit(2) from None
    _write_extras(stderr, document, texts, metadata, html, tables, table_format, f"dedup report: {path}")
    if json_output:
        dump_json(document, sys.stdout)
    elif output is None or not quiet:
        render_summary(result, texts, Console(highlight=False))
    if not quiet:
        stderr.print(
            f"read {handed.count} articles, skipped {len(result.skipped)}; "
            f"{len(result.clusters)} clusters, {len(result.singletons)} singletons "
            f"in {time.perf_counter() - started:.2f}s",
            markup=False,
            highlight=False,
        )


def _let_go(articles: list[Article]) -> Iterator[Article]:
    """``articles`` one at a time, each let go by the list as it is handed over."""
    for number, article in enumerate(articles):
        articles[number] = None  # type: ignore[call-overload]
        yield article


class _OverBudget(Exception):
    def __init__(self, count: int, characters: int, needed: int, limit: int, given: bool) -> None:
        super().__init__()
        self.count, self.characters, self.needed, self.limit, self.given = count, characters, needed, limit, given


class _HandedOver:
    """Hands the articles read to the pipeline one at a time: it keeps what it reads of them in flat buffers (~1 byte
    a character), so no list of ``Article`` objects (~2.2 KB each) is held. On the way it counts them and their
    characters, notes what the report and tables show of each (``metadata``, when given), and refuses the run
    (:class:`_OverBudget`, once the whole input is counted) as soon as the estimate passes the budget: before any
    stage starts, holding no more than the budget's worth of text."""

    def __init__(self, budget: int | None, metadata: dict[str, dict[str, str | None]] | None) -> None:
        self.budget = budget
        self.limit = budget if budget is not None else available_bytes()
        self.metadata = metadata
        self.count = self.characters = 0

    def __call__(self, articles: Iterator[Article]) -> Iterator[Article]:
        for article in articles:
            self.count += 1
            self.characters += len(article.text)
            if self.limit is not None and full_run_bytes(self.characters) > self.limit:
                for rest in articles:  # counted, not kept: the message says what the whole input needs
                    self.count += 1
                    self.characters += len(rest.text)
                needed = full_run_bytes(self.characters)
                raise _OverBudget(self.count, self.characters, needed, self.limit, self.budget is not None)
            if self.metadata is not None:
                self.metadata.update(article_metadata([article]))
            yield article


def _refuse(stderr: Console, over: _OverBudget) -> None:
    """Exit 2: the full run is estimated to need more memory than the budget (or than is available)."""
    where = "the budget given" if over.given else "available on this machine"
    stderr.print(
        f"dedup: error: a full run over {over.count:,} articles ({over.characters / 1e6:,.0f} million characters) "
        f"needs about {gigabytes(over.needed)} of memory; {gigabytes(over.limit)} is {where}. "
        "Use --copies-only for whole-article copies (about 2 GB for a million articles), split the input, "
        "or add the articles to an index one by one (dedup index add); --memory-budget SIZE sets the limit "
        "this check uses.",
        markup=False,
        highlight=False,
    )
    raise typer.Exit(2)


def _write_extras(
    stderr: Console,
    document: Mapping[str, Any],
    texts: Mapping[str, str],
    metadata: Mapping[str, Mapping[str, str | None]],
    html: Path | None,
    tables: Path | None,
    table_format: str,
    title: str,
) -> None:
    """Write the HTML report and/or the tables of ``document``; exit 2 when that fails."""
    if table_format not in FORMATS:
        stderr.print(f"dedup: error: --format must be one of {', '.join(FORMATS)}", markup=False)
        raise typer.Exit(2)
    try:
        if html is not None:
            shown = {member["id"] for cluster in document["clusters"] for member in cluster["members"]}
            keep = bool((document.get("parameters") or {}).get("keep_wrapped_repeated_lines", False))
            spans = boilerplate_spans(texts, shown, keep_wrapped_repeated=keep)
            page = build_report(materialized(document), texts, spans, metadata, title=title)  # one page: whole
            write_report(html, page)
        if tables is not None:
            write_tables(document, tables, table_format, metadata=metadata)
    except OSError as error:
        stderr.print(f"dedup: error: cannot write {error.filename}: {error.strerror}", markup=False)
        raise typer.Exit(2) from None
    except DedupError as error:
        stderr.print(f"dedup: error: {error}", markup=False, highlight=False)
        raise typer.Exit(error.exit_code) from None


@app.command("report")
def report_command(
    result_path: Annotated[Path, typer.Argument(metavar="RESULT.json", help="A JSON result (schema 1).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The HTML file [RESULT.html].")] = None,
    articles: Annotated[
        str | None, typer.Option("--articles", help="Re-read the articles from PATH to show whole texts.")
    ] = None,
    tables: Annotated[Path | None, typer.Option("--tables", help="Also write the tables to DIR.")] = None,
    table_format: Annotated[str, typer.Option("--format", help="Table format: jsonl, csv or parquet.")] = "jsonl",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No warnings.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
) -> None:
    """Make the HTML report of a saved result; without --articles only the passages' texts are shown."""
    stderr = _configure_logging(verbose, quiet)
    try:
        document = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        stderr.print(f"dedup: error: cannot read {result_path}: {error}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    problems = validate_document(document)
    # Refuse a document of the wrong shape; only warn about values out of range (the report still works).
    shape = ("document:", "missing key", "expected an object", "expected a list", "expected [begin, end]")
    if not isinstance(document, dict) or document.get("schema") != 1 or any(s in p for p in problems for s in shape):
        stderr.print(f"dedup: error: {result_path} is not a schema-1 result: {'; '.join(problems[:3])}", markup=False)
        raise typer.Exit(2)
    for problem in problems[:5]:
        log.warning("%s: %s", result_path, problem)
    try:
        read = read_path(articles).articles if articles is not None else []
    except DedupError as error:
        stderr.print(f"dedup: error: {error}", markup=False, highlight=False)
        raise typer.Exit(error.exit_code) from None
    target = output or result_path.with_suffix(".html")
    texts = {article.id: article.text for article in read}
    metadata = article_metadata(read)
    _write_extras(stderr, document, texts, metadata, target, tables, table_format, f"dedup report: {result_path.name}")
    if not quiet:
        stderr.print(f"wrote {target}", markup=False, highlight=False)


@app.command("compare")
def compare_command(
    first: Annotated[str, typer.Argument(metavar="A", help="An article file, or an id in --articles.")],
    second: Annotated[str, typer.Argument(metavar="B", help="An article file, or an id in --articles.")],
    articles: Annotated[str | None, typer.Option("--articles", help="Folder or file to look ids up in.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Also write the comparison as an HTML page.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No warnings.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
) -> None:
    """Compare two articles: the verdict, its scores and the aligned passages."""
    stderr = _configure_logging(verbose, quiet)
    try:
        comparison = compare(*load_pair([first, second], articles))
    except DedupError as error:
        stderr.print(f"dedup: error: {error}", markup=False, highlight=False)
        raise typer.Exit(error.exit_code) from None
    render_comparison(comparison, Console(highlight=False))
    if html is not None:
        texts = comparison.texts
        page = build_report(
            comparison_document(comparison),
            texts,
            boilerplate_spans(texts),
            article_metadata([comparison.a, comparison.b]),
            title=f"dedup compare: {comparison.source.id} / {comparison.target.id}",
            comparison=comparison_info(comparison),
        )
        try:
            write_report(html, page)
        except OSError as error:
            stderr.print(f"dedup: error: cannot write {html}: {error.strerror}", markup=False)
            raise typer.Exit(2) from None


def _copies_only(
    path: str, json_output: bool, output: Path | None, quiet: bool, stderr: Console, started: float
) -> dict[str, Any]:
    """``--copies-only``: streamed, vectorised whole-article near-duplicates (``dedup.copies``)."""
    from rich.progress import TaskProgressColumn

    from dedup.copies import CopiesSettings, cluster_copies, default_workers

    rate = TextColumn("{task.fields[rate]}")
    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn()]
    show_progress = not quiet and stderr.is_terminal

    def factory(progress: Progress) -> Callable[[str, int], Callable[[int], None]]:
        def make(label: str, total: int) -> Callable[[int], None]:
            task = progress.add_task(label, total=total, rate="")

            def tick(advance: int) -> None:
                progress.advance(task, advance)
                speed = progress.tasks[task].speed or 0
                unit = "MB" if label.endswith("MB") else "articles"
                scale = 1e6 if unit == "MB" else 1
                progress.update(task, rate=f"{speed / scale:,.1f} {unit}/s")

            return tick

        return make

    try:
        with Progress(*columns, rate, console=stderr, transient=True, disable=not show_progress) as progress:
            settings = CopiesSettings(workers=default_workers())
            result = cluster_copies(path, settings, progress=factory(progress))
    except DedupError as error:
        stderr.print(f"dedup: error: {error}", markup=False, highlight=False)
        raise typer.Exit(error.exit_code) from None
    document = streamed_document(result, {})
    if output is not None:
        try:
            write_json(document, output)
        except OSError as error:
            stderr.print(f"dedup: error: cannot write {output}: {error.strerror}", markup=False)
            raise typer.Exit(2) from None
    if json_output:
        dump_json(document, sys.stdout)
    elif output is None or not quiet:
        render_summary(result, {}, Console(highlight=False))
    if not quiet:
        count = len(result.singletons) + sum(len(cluster.members) for cluster in result.clusters)
        stderr.print(
            f"copies only: {count} articles, skipped {len(result.skipped)}; {len(result.clusters)} clusters, "
            f"{len(result.singletons)} singletons in {time.perf_counter() - started:.2f}s",
            markup=False,
            highlight=False,
        )
    return document
