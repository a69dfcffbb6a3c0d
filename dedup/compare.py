"""Two articles side by side: the verdict on the pair, its scores and the aligned passages.

``compare(a, b)`` runs the batch pipeline on the two articles (so the verdict, origin and
roles are the ones ``dedup cluster`` would give them on their own) and, whatever it
decides, the align and score stages on the pair in both directions, so the scores and
passages are shown even for a pair judged unrelated. ``render_comparison`` prints it with
rich; ``comparison_document`` and ``comparison_info`` feed the HTML report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dedup.align import align
from dedup.clean import clean_article
from dedup.errors import InputError
from dedup.model import Article, Cluster, PairVerdict, Passage, Result
from dedup.pipeline import Settings
from dedup.pipeline import cluster as run_cluster
from dedup.score import judge
from dedup.similarity import sentence_vectors
from dedup.write.html import word_diff
from dedup.write.jsondoc import result_to_dict

RELATION_STYLES = {"duplicate": "bold magenta", "derived": "bold yellow", "same-story": "bold cyan", "unrelated": "dim"}
KIND_STYLES = {"verbatim": "bold blue", "rewrite": "italic dark_orange"}


@dataclass(slots=True)
class Comparison:
    """What ``compare`` found for articles ``a`` and ``b``.

    ``forward`` aligns ``b`` against ``a`` (a is the source), ``backward`` the other way;
    ``result`` is the pipeline's run on the two (one cluster, or two singletons).
    """

    a: Article
    b: Article
    forward: PairVerdict
    backward: PairVerdict
    result: Result

    @property
    def cluster(self) -> Cluster | None:
        return self.result.clusters[0] if self.result.clusters else None

    @property
    def relation(self) -> str:
        """The pipeline's relation for the pair, or ``"unrelated"`` when it left them apart."""
        return self.cluster.relation if self.cluster else "unrelated"

    @property
    def source(self) -> Article:
        """The side the shown passages come from: the origin when there is one, else the side reused more."""
        cluster = self.cluster
        if cluster is not None and cluster.origin is not None:
            return self.a if cluster.origin == self.a.id else self.b
        if self.result.passages:
            return self.a if self.result.passages[0].source == self.a.id else self.b
        return self.a if self.forward.coverage_b >= self.backward.coverage_b else self.b

    @property
    def target(self) -> Article:
        return self.b if self.source is self.a else self.a

    @property
    def verdict(self) -> PairVerdict:
        """The pair verdict with ``source`` as source side."""
        return self.forward if self.source is self.a else self.backward

    @property
    def passages(self) -> list[Passage]:
        """Aligned passages, source → target, in target order: the pipeline's when it clustered the pair."""
        chosen = self.result.passages or self.verdict.passages
        return sorted(chosen, key=lambda p: (p.target_span, p.source_span))

    @property
    def texts(self) -> dict[str, str]:
        return {self.a.id: self.a.text, self.b.id: self.b.text}

    def scores(self) -> dict[str, float]:
        """The numbers behind the verdict, named by article role (source/target)."""
        verdict = self.verdict
        return {
            "score": round(verdict.score, 4),
            "source coverage": round(verdict.coverage_a, 4),
            "target coverage": round(verdict.coverage_b, 4),
            "source verbatim": round(verdict.verbatim_a, 4),
            "target verbatim": round(verdict.verbatim_b, 4),
        }


def _distinct_ids(a: Article, b: Article) -> tuple[Article, Article]:
    """Give the two articles different ids (two files both named ``story.txt``)."""
    if a.id != b.id:
        return a, b
    first = a.path or f"{a.id} (A)"
    second = b.path or f"{b.id} (B)"
    if first == second:
        first, second = f"{a.id} (A)", f"{b.id} (B)"
    return dataclasses.replace(a, id=first), dataclasses.replace(b, id=second)


def compare(a: Article, b: Article, *, settings: Settings | None = None, **overrides: Any) -> Comparison:
    """Compare two articles: the pipeline's verdict on them, and alignments in both directions."""
    a, b = _distinct_ids(a, b)
    settings = (settings or Settings()).with_overrides(**overrides)
    result = run_cluster([a, b], settings=settings)
    clean_a, clean_b = clean_article(a), clean_article(b)
    vectors_a, vectors_b = sentence_vectors([clean_a, clean_b])
    forward = judge(clean_a, clean_b, align(clean_a, clean_b, vectors_a, vectors_b, settings.align), settings.score)
    backward = judge(clean_b, clean_a, align(clean_b, clean_a, vectors_b, vectors_a, settings.align), settings.score)
    return Comparison(a=a, b=b, forward=forward, backward=backward, result=result)


def load_pair(specs: Sequence[str], articles: str | Path | None = None) -> tuple[Article, Article]:
    """The two articles named by ``specs``: a file path each, or an id found in ``articles`` (a folder or file).

    Raises ``InputError`` when one cannot be found or read.
    """
    from dedup.read import read_path

    by_id: dict[str, Article] | None = None
    found: list[Article] = []
    for spec in specs:
        path = Path(spec)
        if path.is_file():
            read = read_path(path)
            if not read.articles:
                reason = read.skipped[0].reason if read.skipped else "no article in it"
                raise InputError(f"cannot read {spec}: {reason}")
            if len(read.articles) > 1:
                raise InputError(f"{spec} holds {len(read.articles)} articles: name one by id with --articles {spec}")
            found.append(read.articles[0])
            continue
        if articles is None:
            raise InputError(f"{spec} is not a file; to name an article by id, give --articles PATH")
        if by_id is None:
            by_id = {article.id: article for article in read_path(articles).articles}
        if spec not in by_id:
            raise InputError(f"no article with id {spec!r} in {articles}")
        found.append(by_id[spec])
    if len(found) != 2:
        raise InputError("compare needs exactly two articles")
    return found[0], found[1]


# --- output -----------------------------------------------------------------------------------------------


def comparison_document(comparison: Comparison) -> dict[str, Any]:
    """A schema-1 document for the pair: the pipeline's, or (unrelated) the aligned passages outside any cluster."""
    result = comparison.result
    if not result.clusters:
        result = dataclasses.replace(result, passages=comparison.passages)
    return result_to_dict(result, comparison.texts)


def comparison_info(comparison: Comparison) -> dict[str, Any]:
    """What the HTML report shows above a comparison: ids, verdict and scores."""
    return {
        "a": comparison.source.id,
        "b": comparison.target.id,
        "relation": comparison.relation,
        "scores": {**comparison.scores(), **{k.replace("_", " "): v for k, v in comparison.verdict.evidence.items()}},
    }


def _marked(text: str, changed: list[tuple[int, int]], style: str) -> Text:
    out = Text()
    position = 0
    for begin, end in changed:
        out.append(text[position:begin])
        out.append(text[begin:end], style=style)
        position = end
    out.append(text[position:])
    return out


def render_comparison(comparison: Comparison, console: Console, *, limit: int | None = None) -> None:
    """Print the verdict, the scores and the aligned passages (source left, target right).

    Article text goes through ``Text`` objects only, never markup. Inside a rewrite the
    words that differ are underlined (source) or bold (target).
    """
    source, target = comparison.source, comparison.target
    title = Text("Verdict: ", style="bold")
    title.append(comparison.relation, style=RELATION_STYLES.get(comparison.relation, "bold"))
    console.print(title)
    for label, article in (("source", source), ("target", target)):
        line = Text(f"  {label}: ", style="dim")
        line.append(article.id, style="bold")
        details = [value for value in (article.outlet, article.published) if value]
        if details:
            line.append("  (" + ", ".join(details) + ")", style="dim")
        console.print(line)
    cluster = comparison.cluster
    if cluster is not None:
        for item in cluster.origin_evidence:
            line = Text("  • " + str(item.get("why", "evidence")))
            if item.get("snippet"):
                line.append(": “" + str(item["snippet"]) + "”", style="italic")
            console.print(line)
        for member in cluster.members:
            if member.coverage is not None:
                console.print(
                    Text(
                        f"  {member.id}: {member.role}, coverage {100 * member.coverage:.1f}%"
                        + (f", {member.extent}" if member.extent else "")
                    )
                )
    scores = Table(box=box.SIMPLE, show_header=True, pad_edge=False)
    scores.add_column("score")
    scores.add_column("value", justify="right")
    for name, value in comparison.scores().items():
        scores.add_row(name, f"{value:.4f}")
    for name, value in comparison.verdict.evidence.items():
        scores.add_row(name.replace("_", " "), str(value))
    console.print(scores)

    passages = comparison.passages
    shown = passages if limit is None else passages[:limit]
    heading = Text(f"Aligned passages ({len(passages)})", style="bold")
    if len(shown) < len(passages):
        heading.append(f", first {len(shown)} shown", style="dim")
    console.print(heading)
    if not passages:
        console.print(Text("  none", style="dim"))
        return
    table = Table(box=box.SIMPLE, show_lines=True, expand=True, pad_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column(Text("source " + source.id), ratio=1, overflow="fold")
    table.add_column(Text("target " + target.id), ratio=1, overflow="fold")
    for number, passage in enumerate(shown, 1):
        source_text = comparison.texts[passage.source][passage.source_span[0] : passage.source_span[1]]
        target_text = comparison.texts[passage.target][passage.target_span[0] : passage.target_span[1]]
        if passage.kind == "rewrite":
            changed_source, changed_target = word_diff(source_text, target_text)
            left = _marked(source_text, changed_source, "underline")
            right = _marked(target_text, changed_target, "bold")
        else:
            left, right = Text(source_text), Text(target_text)
        left = Text(f"[{passage.source_span[0]}:{passage.source_span[1]}] ", style="dim") + left
        right = Text(f"[{passage.target_span[0]}:{passage.target_span[1]}] ", style="dim") + right
        kind = Text(passage.kind, style=KIND_STYLES.get(passage.kind, ""))
        kind.append(f"\n{passage.score:.2f}", style="dim")
        table.add_row(str(number), kind, left, right)
    console.print(table)
