"""The command line: a thin door onto ``dedup.read``, ``dedup.pipeline`` and ``dedup.write``.

Exit codes: 0 success; 1 unexpected library error; 2 unusable input or setting; 3 no
readable article. Logs and progress go to stderr; stdout carries only the result.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dedup.errors import DedupError
from dedup.pipeline import cluster as run_cluster
from dedup.read import read_path, read_stream
from dedup.write import dump_json, render_summary, result_to_dict, write_json

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find copies and rewrites of wire stories in a set of news articles.",
)
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


def _progress_factory(progress: Progress | None) -> Callable[[str, int], Callable[[int], None]]:
    def factory(label: str, total: int) -> Callable[[int], None]:
        if progress is None:
            return lambda advance: None
        task = progress.add_task(label, total=total)
        return lambda advance: progress.advance(task, advance)

    return factory


@app.command("cluster")
def cluster_command(
    path: Annotated[str, typer.Argument(help="A folder (read recursively), a file, or - for JSONL on stdin.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document (schema 1) to stdout.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the JSON document to FILE.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or warnings.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")] = False,
) -> None:
    """Cluster the articles in PATH by wire story; name each cluster's origin; list derived passages."""
    stderr = _configure_logging(verbose, quiet)
    started = time.perf_counter()
    try:
        read = read_stream(sys.stdin.buffer, "-") if path == "-" else read_path(path)
        show_progress = not quiet and stderr.is_terminal
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
            disable=not show_progress,
        ) as progress:
            result = run_cluster(read.articles, skipped=read.skipped, progress=_progress_factory(progress))
    except DedupError as error:
        stderr.print(f"dedup: error: {error}", markup=False, highlight=False)
        raise typer.Exit(error.exit_code) from None
    texts = {article.id: article.text for article in read.articles}
    document = result_to_dict(result, texts)
    if output is not None:
        try:
            write_json(document, output)
        except OSError as error:
            stderr.print(f"dedup: error: cannot write {output}: {error.strerror}", markup=False)
            raise typer.Exit(2) from None
    if json_output:
        dump_json(document, sys.stdout)
    elif output is None or not quiet:
        render_summary(result, texts, Console(highlight=False))
    if not quiet:
        stderr.print(
            f"read {len(read.articles)} articles, skipped {len(result.skipped)}; "
            f"{len(result.clusters)} clusters, {len(result.singletons)} singletons "
            f"in {time.perf_counter() - started:.2f}s",
            markup=False,
            highlight=False,
        )
