"""A readable terminal summary of one run, printed with rich.

Article text and ids are untrusted: everything from the input goes through ``Text``
objects, never through rich markup, so "[bold]" in an article prints literally. Colour is
left to rich's own terminal detection: piped output is plain text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from dedup.model import Cluster, Passage, Result
from dedup.write.jsondoc import cluster_membership, passage_cluster

TEXT_WIDTH = 100
SNIPPET_WIDTH = 60

ROLE_STYLES = {"origin": "bold green", "derived": "yellow", "duplicate": "magenta", "same-story": "cyan"}
KIND_STYLES = {"verbatim": "bold", "rewrite": "italic"}


def shorten(text: str, width: int = TEXT_WIDTH) -> str:
    """``text`` on one line, cut at a word boundary to at most ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    space = cut.rfind(" ")
    if space > width // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _percent(coverage: float | None) -> str:
    return "—" if coverage is None else f"{100 * coverage:.1f}%"


def _articles_read(result: Result, texts: Mapping[str, str]) -> int:
    ids = set(texts) | set(result.singletons)
    ids.update(member.id for cluster in result.clusters for member in cluster.members)
    return len(ids)


def _header(result: Result, texts: Mapping[str, str]) -> Text:
    counts = [
        f"{_plural(_articles_read(result, texts), 'article')} read",
        f"{len(result.skipped)} skipped",
        _plural(len(result.clusters), "cluster"),
        _plural(len(result.singletons), "singleton"),
    ]
    return Text(", ".join(counts), style="bold")


def _evidence_line(item: Mapping[str, Any]) -> Text:
    """One origin-evidence item: why — doc: “snippet” (published …, span …, other keys)."""
    line = Text("• ")
    line.append(str(item.get("why", "evidence")))
    if "doc" in item:
        line.append(" — ")
        line.append(str(item["doc"]), style="bold")
    if item.get("snippet"):
        line.append(": “" + shorten(str(item["snippet"]), SNIPPET_WIDTH) + "”")
    details = [f"published {item['published']}"] if item.get("published") else []
    span = item.get("span")
    if isinstance(span, (list, tuple)) and len(span) == 2:
        details.append(f"[{span[0]}:{span[1]}]")
    shown = {"why", "doc", "snippet", "published", "span"}
    details.extend(f"{key}={item[key]}" for key in sorted(item) if key not in shown)
    if details:
        line.append(" (" + ", ".join(details) + ")", style="dim")
    return line


def _origin_line(cluster: Cluster) -> Text:
    line = Text("origin: ")
    if cluster.origin is not None:
        line.append(cluster.origin, style=ROLE_STYLES["origin"])
        return line
    line.append("outside the corpus", style="bold")
    credits = []
    for credit in cluster.credited_sources:
        source = str(credit.get("source", "?"))
        if "doc" in credit:
            snippet = shorten(str(credit.get("snippet", "")), SNIPPET_WIDTH)
            source += f" ({credit['doc']}: “{snippet}”)"
        credits.append(source)
    if credits:
        line.append(" — credited: " + "; ".join(credits))
    return line


def _member_table(cluster: Cluster) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("member", overflow="fold")
    table.add_column("role")
    table.add_column("coverage", justify="right")
    table.add_column("extent")
    table.add_column("sources", overflow="fold")
    for member in cluster.members:
        table.add_row(
            Text(member.id),
            Text(member.role, style=ROLE_STYLES.get(member.role, "")),
            Text(_percent(member.coverage)),
            Text(member.extent or "—"),
            Text(", ".join(member.sources) or "—"),
        )
    return table


def _passage_lines(passage: Passage, texts: Mapping[str, str]) -> Iterable[tuple[int, Text]]:
    """The passage's heading and its two texts, each with its indent."""
    (source_begin, source_end), (target_begin, target_end) = passage.source_span, passage.target_span
    head = Text()
    head.append(passage.kind, style=KIND_STYLES.get(passage.kind, ""))
    head.append(f" {passage.score:.2f}  ")
    head.append(passage.source, style="bold")
    head.append(f" [{source_begin}:{source_end}] → ")
    head.append(passage.target, style="bold")
    head.append(f" [{target_begin}:{target_end}]")
    yield 4, head
    for label, text, begin, end in (
        ("source", texts.get(passage.source), source_begin, source_end),
        ("target", texts.get(passage.target), target_begin, target_end),
    ):
        if text is not None:
            line = Text(label + "  ", style="dim")
            line.append(shorten(text[begin:end]))
            yield 6, line


def _print(console: Console, text: Text, indent: int = 0) -> None:
    """Print ``text`` with a hanging indent, so wrapped lines stay under the first one."""
    for line in text.wrap(console, max(console.width - indent, 20)):
        line.rstrip()
        console.print(Text.assemble(" " * indent, line))


def _ranked(passages: Iterable[Passage]) -> list[Passage]:
    """Highest score first, the longest first among equal scores (a verbatim sentence before a verbatim word);
    then ids and offsets, so the order is stable."""
    return sorted(
        passages,
        key=lambda p: (-p.score, p.target_span[0] - p.target_span[1], p.source, p.target, p.source_span, p.target_span),
    )


def _overview_table(clusters: list[Cluster]) -> Table:
    """One row per cluster: relation, origin, size, derived members and their best coverage."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("cluster")
    table.add_column("relation")
    table.add_column("origin", overflow="fold")
    table.add_column("members", justify="right")
    table.add_column("derived", justify="right")
    table.add_column("top coverage", justify="right")
    for cluster in clusters:
        derived = [m for m in cluster.members if m.role == "derived"]
        coverages = [m.coverage for m in derived if m.coverage is not None]
        table.add_row(
            Text(cluster.id),
            Text(cluster.relation),
            Text(cluster.origin or "outside the corpus"),
            Text(str(len(cluster.members))),
            Text(str(len(derived))),
            Text(_percent(max(coverages)) if coverages else "—"),
        )
    return table


def render_summary(result: Result, texts: dict[str, str], console: Console, *, top_passages: int = 3) -> None:
    """Print a summary of ``result``: counts, each cluster with its members and top passages,
    the singletons and the skipped inputs. ``texts`` maps article id → text as read."""
    console.print(_header(result, texts))
    if result.clusters:
        console.print()
        console.print(_overview_table(result.clusters))

    membership = cluster_membership(result.clusters)
    by_cluster: dict[str, list[Passage]] = {}
    for passage in result.passages:
        cluster_id = passage_cluster(passage, membership)
        if cluster_id is not None:
            by_cluster.setdefault(cluster_id, []).append(passage)

    for cluster in result.clusters:
        console.print()
        title = Text("Cluster ", style="bold")
        title.append(cluster.id, style="bold")
        title.append(" · " + cluster.relation + " · " + _plural(len(cluster.members), "member"))
        console.print(title)
        _print(console, _origin_line(cluster), 2)
        if cluster.origin_evidence:
            _print(console, Text("evidence:"), 2)
            for item in cluster.origin_evidence:
                _print(console, _evidence_line(item), 4)
        console.print(Padding(_member_table(cluster), (0, 0, 0, 2), expand=False))
        passages = _ranked(by_cluster.get(cluster.id, []))
        if passages and top_passages > 0:
            shown = passages[:top_passages]
            _print(console, Text(f"passages (top {len(shown)} of {len(passages)}):"), 2)
            for passage in shown:
                for indent, line in _passage_lines(passage, texts):
                    _print(console, line, indent)

    console.print()
    singletons = Text(f"Singletons ({len(result.singletons)}): ", style="bold")
    singletons.append(", ".join(result.singletons) or "none", style="")
    _print(console, singletons)
    if result.skipped:
        console.print(Text(f"Skipped ({len(result.skipped)}):", style="bold"))
        for item in result.skipped:
            line = Text(item.path)
            line.append(": " + item.reason, style="dim")
            _print(console, line, 2)
