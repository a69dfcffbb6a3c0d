"""``dedup index add|check|stats|regroup|migrate``: the command line onto :class:`dedup.index.Index`.

Verdicts go to stdout (text, or ``--json``: one JSON object per line, docs/index.md); logs and
skipped inputs to stderr. Exit codes as ``dedup cluster``: 2 for an unusable index or input.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from dedup.errors import DedupError
from dedup.model import Article
from dedup.store.base import SCHEMA

if TYPE_CHECKING:
    from dedup.index import Index

index_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="A persistent index for crawlers: add articles one by one, check new ones against it.",
)

IndexArgument = Annotated[str, typer.Argument(help="An index file (SQLite; created if missing) or a redis:// URL.")]
PathsArgument = Annotated[list[str], typer.Argument(help="Folders, files, or - for JSONL on stdin.")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON verdict per line on stdout.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")]


def _articles(paths: list[str], stderr: Console) -> Iterator[Article]:
    from dedup.read import read_path, read_stream

    for path in paths:
        read = read_stream(sys.stdin.buffer, "-") if path == "-" else read_path(path)
        for skipped in read.skipped:
            _say(stderr, f"dedup: skipped {skipped.path}: {skipped.reason}")
        yield from read.articles


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def verdict_lines(verdict: dict[str, Any]) -> list[str]:
    """A verdict as a few human-readable lines."""
    state = {True: "added", False: "already in the index", None: "checked"}[verdict.get("added")]
    matches = verdict["matches"]
    head = f"{verdict['id']}: {state}; " + (f"{len(matches)} match(es)" if matches else "no match")
    cluster = verdict.get("cluster")
    if cluster:
        origin = cluster["origin"] or "outside the index"
        head += f"; cluster {cluster['id']} ({cluster['relation']}, {len(cluster['members'])} members, origin {origin})"
    lines = [head]
    for match in matches:
        lines.append(
            f"  {match['direction']} {match['id']}: {match['relation']}, score {match['score']:.2f}, "
            f"{_percent(match['coverage_self'])} of this article, {_percent(match['coverage_other'])} of the other, "
            f"{len(match['passages'])} passage(s)"
        )
    return lines


def _say(stderr: Console, text: str) -> None:
    stderr.print(text, markup=False, highlight=False)


@contextmanager
def _opened(target: str, stderr: Console) -> Iterator[Index]:
    """The index at ``target``, open for the block; a ``DedupError`` (from opening or inside) is printed and exits
    with its code."""
    from dedup.index import Index

    try:
        with Index.open(target) as index:
            yield index
    except DedupError as error:
        _say(stderr, f"dedup: error: {error}")
        raise typer.Exit(error.exit_code) from None


def _run(index_target: str, paths: list[str], json_output: bool, quiet: bool, *, store: bool) -> None:
    stderr = Console(stderr=True)
    started = time.perf_counter()
    count = matched = 0
    with _opened(index_target, stderr) as index:
        for article in _articles(paths, stderr):
            verdict = index.add(article) if store else index.check(article)
            count += 1
            matched += bool(verdict["matches"])
            if json_output:
                sys.stdout.write(json.dumps(verdict, ensure_ascii=False, sort_keys=True) + "\n")
            else:
                sys.stdout.write("\n".join(verdict_lines(verdict)) + "\n")
        size = len(index)
    if not quiet:
        _say(
            stderr,
            f"{'added' if store else 'checked'} {count} articles, {matched} with matches; the index holds {size} "
            f"in {time.perf_counter() - started:.2f}s",
        )


@index_app.command("add")
def add_command(
    index: IndexArgument, paths: PathsArgument, json_output: JsonOption = False, quiet: QuietOption = False
) -> None:
    """Add the articles in PATH… to INDEX, printing each one's verdict."""
    _run(index, paths, json_output, quiet, store=True)


@index_app.command("check")
def check_command(
    index: IndexArgument, paths: PathsArgument, json_output: JsonOption = False, quiet: QuietOption = False
) -> None:
    """Check the articles in PATH… against INDEX without storing them."""
    _run(index, paths, json_output, quiet, store=False)


@index_app.command("stats")
def stats_command(index: IndexArgument, json_output: JsonOption = False) -> None:
    """Counts, sizes and parameters of INDEX."""
    with _opened(index, Console(stderr=True)) as opened:
        stats = opened.stats()
    if json_output:
        sys.stdout.write(json.dumps(stats, sort_keys=True) + "\n")
        return
    sizes = stats["size_bytes"]
    total = sizes.get("file", 0) + sizes.get("wal", 0) or sizes.get("used_memory", 0)
    per_article = total / stats["articles"] if stats["articles"] else 0
    sys.stdout.write(
        f"index      {stats['target']}\n"
        f"articles   {stats['articles']}\n"
        f"sentences  {stats['sentences']}\n"
        f"changes    {stats['changes']}\n"
        f"size       {total} bytes ({per_article:.0f} per article)\n"
        f"schema     {stats['schema']}; {stats['hashing']}\n"
    )
    rules = stats["cluster_rules"]
    if rules["stored"] != rules["current"]:
        sys.stdout.write(
            f"clusters   made by grouping rules {rules['stored']}, this version uses {rules['current']}: "
            f"run `dedup index regroup {index}` once\n"
        )


@index_app.command("regroup")
def regroup_command(index: IndexArgument, quiet: QuietOption = False) -> None:
    """Remake INDEX's cluster records with this version's grouping rules (after an upgrade that changed them)."""
    stderr = Console(stderr=True)
    started = time.perf_counter()
    with _opened(index, stderr) as opened:
        done = opened.regroup()
    if not quiet:
        _say(
            stderr,
            f"remade the records of {done['components']} clusters, {done['changed']} changed, "
            f"in {time.perf_counter() - started:.2f}s",
        )


@index_app.command("migrate")
def migrate_command(index: IndexArgument, quiet: QuietOption = False) -> None:
    """Bring INDEX from schema 7, 8 or 9 to 10 in place (its signature terms stored as features; for 7 and 8 its
    postings packed in rows of key ranges; for schema 7 also the holder counts of its crowded band keys; one pass,
    one transaction)."""
    from dedup.index import Index

    stderr = Console(stderr=True)
    started = time.perf_counter()
    try:
        done = Index.migrate(index)
    except DedupError as error:
        _say(stderr, f"dedup: error: {error}")
        raise typer.Exit(error.exit_code) from None
    if not quiet:
        if done["migrated"]:
            made = []
            if "postings_rows" in done:
                made.append(f"postings packed in {done['postings_rows']} rows")
            if "terms_articles" in done:
                made.append(f"the signature terms of {done['terms_articles']} articles stored as features")
            if "crowded_keys" in done:
                made.append(
                    f"{done['crowded_keys']} band keys held by more than {done['crowded_key_cap']} articles counted"
                )
            _say(
                stderr,
                f"migrated schema {done['schema']} to {SCHEMA}: {', '.join(made) or 'nothing else to change'}, "
                f"in {time.perf_counter() - started:.2f}s",
            )
        else:
            _say(stderr, f"already schema {done['schema']}: nothing to do")
