"""Origin inference: the likely origin of each cluster, roles of its members, and why.

For a cluster with derived (or duplicate) pairs, every member that takes part in them is
scored on the evidence a media analyst would use:

- its own credit line ("(Bloomberg) —", "©2022 Bloomberg L.P.", "By ..., PA News"), worth
  most when other members credit that same outlet ("According to Bloomberg"), and more
  when that outlet is a wire service;
- crediting another member's outlet counts against it (it says where it came from);
- the earliest publication date, when dates are known;
- best-source votes: each member votes for the member that covers most of it; a wire
  text rewritten by several outlets collects the votes, a sibling rewrite does not;
- containment: the text whose passages sit inside the other (the other side's reused
  share is the larger) is the likelier source; the margins add up over all its pairs, so
  a wire text that feeds several rewrites outranks each of them.

The best-scoring member is the origin, unless it has no own credit and itself credits a
source outside the corpus ("With information from AFP"), in which case the origin is
outside the corpus (``None``) and ``credited_sources`` names it. Derived members list their
sources best first: the origin and wire copy before sibling rewrites, each tier by how much
of the member it covers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dedup.clean import CleanArticle
from dedup.credits import WIRE_SERVICES, credited_sources, own_outlets
from dedup.model import Cluster, Credit, Member, PairVerdict, Passage
from dedup.score import coverage as coverage_of_spans
from dedup.score import is_verbatim_run

DERIVED = ("duplicate", "derived")


@dataclass(slots=True, frozen=True)
class OriginSettings:
    whole_coverage: float = 0.65
    wire_derived_coverage: float = 0.22
    wire_derived_verbatim: float = 0.08
    wire_union_unrelated: bool = True


@dataclass(slots=True)
class DirectedEdge:
    """``target`` derives from ``source``; ``verdict`` is the pair's verdict."""

    source: str
    target: str
    verdict: PairVerdict


def _coverage_of(verdict: PairVerdict, article_id: str) -> float:
    return verdict.coverage_a if verdict.a == article_id else verdict.coverage_b


def origin_scores(
    members: Sequence[str], articles: Mapping[str, CleanArticle], edges: Sequence[PairVerdict]
) -> tuple[dict[str, float], dict[str, list[dict]]]:
    """Each member's origin score and the evidence items behind it.

    Equal to :func:`reference_origin_scores` (tested), without comparing every member with every other: what the
    *other* members credit (or own) is what all of them do less the member's own share, counted per source, and the
    credits naming a member's outlet are looked up by source (in the members' order, as the loop finds them).
    A cluster of a few hundred copies took most of a second here.
    """
    owned = {m: own_outlets(articles[m].credits) for m in members}
    credited = {m: credited_sources(articles[m].credits) for m in members}
    scores = {m: 0.0 for m in members}
    evidence: dict[str, list[dict]] = {m: [] for m in members}
    crediting: Counter[str] = Counter(source for m in members for source in credited[m])
    owning: Counter[str] = Counter(source for m in members for source in owned[m])
    naming: dict[str, list[tuple[int, str, Credit]]] = {}  # source → (order, member, credit) of others' credits
    others_credits = [(o, credit) for o in members for credit in articles[o].credits if not credit.own]
    for order, (o, credit) in enumerate(others_credits):
        naming.setdefault(credit.source, []).append((order, o, credit))
    for m in members:
        for credit in articles[m].credits:
            if credit.own:
                others_credit = crediting[credit.source] - (credit.source in credited[m]) > 0
                scores[m] += 3.0 if others_credit else 1.0
                evidence[m].append(_item(m, credit.snippet, credit.why, credit.span))
        if owned[m] & WIRE_SERVICES:
            scores[m] += 2.0  # wire copy is what outlets rewrite, rarely the other way round
        found = sorted(item for source in owned[m] for item in naming.get(source, ()) if item[1] != m)
        for _, other, credit in found:
            why = "the derived article credits the origin's outlet"
            evidence[m].append(_item(other, credit.snippet, why, credit.span))
        if any(owning[source] - (source in owned[m]) > 0 for source in credited[m]):
            scores[m] -= 2.0
    _date_containment_and_votes(members, articles, edges, scores, evidence)
    return scores, evidence


def _date_containment_and_votes(
    members: Sequence[str],
    articles: Mapping[str, CleanArticle],
    edges: Sequence[PairVerdict],
    scores: dict[str, float],
    evidence: dict[str, list[dict]],
) -> None:
    """The origin terms besides the credit lines, added to ``scores`` and ``evidence``: the earliest publication
    date, net containment over the derived edges, and the best-source votes."""
    dates = {m: articles[m].published for m in members if articles[m].published}
    if len(set(dates.values())) > 1:
        earliest = min(dates.values())
        for m, published in dates.items():
            if published == earliest:
                scores[m] += 2.0
                evidence[m].append({"doc": m, "why": "earliest publication date", "published": published})
    for verdict in edges:
        if verdict.relation not in DERIVED:
            continue
        # net containment: the side whose own text is less covered holds the other's passages;
        # summed over edges, so a wire text that feeds several rewrites outranks any one of them
        margin = verdict.coverage_b - verdict.coverage_a
        container, contained = (verdict.a, verdict.b) if margin > 0 else (verdict.b, verdict.a)
        scores[container] += 0.5 * abs(margin)
        if abs(margin) >= 0.1:
            evidence[container].append(
                {
                    "doc": contained,
                    "why": f"containment: {_coverage_of(verdict, contained):.0%} of {contained} is reused from "
                    f"{container}, but only {_coverage_of(verdict, container):.0%} of {container} appears in it",
                }
            )
    # best-source votes: each member votes for the neighbour that covers most of it; the
    # wire text that several outlets rewrote collects the votes, a sibling rewrite does not
    # (exact copies cover a member equally: the earlier published of them takes the vote, then the first id)
    best_source: dict[str, tuple[float, tuple[int, str], str]] = {}
    for verdict in edges:
        if verdict.relation not in DERIVED:
            continue
        for member, other in ((verdict.a, verdict.b), (verdict.b, verdict.a)):
            published = articles[other].published
            candidate = (-_coverage_of(verdict, member), (0, published) if published else (1, ""), other)
            if member not in best_source or candidate < best_source[member]:
                best_source[member] = candidate
    votes: dict[str, list[str]] = {}
    for member, (_, _, other) in sorted(best_source.items()):
        votes.setdefault(other, []).append(member)
    for member, voters in votes.items():
        if len(voters) >= 2:
            scores[member] += len(voters)
            evidence[member].append(
                {"doc": member, "why": f"the main source of {len(voters)} other members", "members": voters}
            )


def reference_origin_scores(
    members: Sequence[str], articles: Mapping[str, CleanArticle], edges: Sequence[PairVerdict]
) -> tuple[dict[str, float], dict[str, list[dict]]]:
    """The readable reference of :func:`origin_scores`: the credit terms compare every member with every other."""
    owned = {m: own_outlets(articles[m].credits) for m in members}
    credited = {m: credited_sources(articles[m].credits) for m in members}
    scores = {m: 0.0 for m in members}
    evidence: dict[str, list[dict]] = {m: [] for m in members}
    for m in members:
        others_credit = set().union(*(credited[o] for o in members if o != m)) if len(members) > 1 else set()
        for credit in articles[m].credits:
            if credit.own:
                scores[m] += 3.0 if credit.source in others_credit else 1.0
                evidence[m].append(_item(m, credit.snippet, credit.why, credit.span))
        if owned[m] & WIRE_SERVICES:
            scores[m] += 2.0  # wire copy is what outlets rewrite, rarely the other way round
        for other in members:
            if other == m:
                continue
            for credit in articles[other].credits:
                if not credit.own and credit.source in owned[m]:
                    evidence[m].append(
                        _item(other, credit.snippet, "the derived article credits the origin's outlet", credit.span)
                    )
        if credited[m] & set().union(*(owned[o] for o in members if o != m)):
            scores[m] -= 2.0
    _date_containment_and_votes(members, articles, edges, scores, evidence)
    return scores, evidence


def measured_sources(member: Member, origin: str | None, articles: Mapping[str, CleanArticle]) -> set[str]:
    """The sources a derived member's coverage and extent are measured against.

    The origin and wire copy when it has any (a sibling rewrite sharing the same wire
    passages must not make a partial copy look whole), else all its sources.
    """
    primary = {s for s in member.sources if s == origin or own_outlets(articles[s].credits) & WIRE_SERVICES}
    return primary or set(member.sources)


def measure_members(
    record: Cluster,
    incoming: Mapping[str, Sequence[Passage]],
    articles: Mapping[str, CleanArticle],
    whole_coverage: float,
) -> None:
    """Set each derived member's coverage and extent from the passages it receives (``incoming``).

    Measured against ``measured_sources`` only; the batch (``pipeline.cluster``) and the index
    (``Index``) both finish their cluster records with this.
    """
    for member in record.members:
        if member.role == "derived":
            sources = measured_sources(member, record.origin, articles)
            spans = [p.target_span for p in incoming.get(member.id, ()) if p.source in sources]
            member.coverage = round(coverage_of_spans(articles[member.id], spans), 4)
            member.extent = "whole" if member.coverage >= whole_coverage else "partial"


def _union_coverage(
    member: str, sources: Sequence[str], articles: Mapping[str, CleanArticle], verdicts: Sequence[PairVerdict]
) -> tuple[float, float]:
    """Shares of ``member`` covered by the passages it shares with any of ``sources``: all, and verbatim only."""
    wanted = set(sources)
    spans: list[tuple[tuple[int, int], bool]] = []
    for verdict in verdicts:
        if verdict.a == member and verdict.b in wanted:
            target = articles[verdict.b]
            spans.extend((p.source_span, is_verbatim_run(target, p)) for p in verdict.passages)
        elif verdict.b == member and verdict.a in wanted:
            target = articles[member]
            spans.extend((p.target_span, is_verbatim_run(target, p)) for p in verdict.passages)
    article = articles[member]
    return (
        coverage_of_spans(article, [span for span, _ in spans]),
        coverage_of_spans(article, [span for span, verbatim in spans if verbatim]),
    )


def _item(doc: str, snippet: str, why: str, span: tuple[int, int]) -> dict:
    return {"doc": doc, "snippet": snippet, "why": why, "span": list(span)}


def credited_list(members: Sequence[str], articles: Mapping[str, CleanArticle]) -> list[dict]:
    """What the members credit (not their own outlets), one entry per credit line."""
    owned = set().union(*(own_outlets(articles[m].credits) for m in members))
    return [
        {"doc": m, "snippet": credit.snippet, "source": credit.source, "span": list(credit.span)}
        for m in members
        for credit in articles[m].credits
        if not credit.own and credit.source not in owned
    ]


def build_cluster(
    cluster_id: str,
    members: Sequence[str],
    articles: Mapping[str, CleanArticle],
    verdicts: Sequence[PairVerdict],
    settings: OriginSettings,
) -> tuple[Cluster, list[DirectedEdge]]:
    """The cluster record and its directed derived edges (source → target)."""
    inside = set(members)
    edges = [v for v in verdicts if v.a in inside and v.b in inside and v.relation != "unrelated"]
    derived_edges = [v for v in edges if v.relation in DERIVED]
    credited = credited_list(members, articles)
    if not derived_edges:
        return (
            Cluster(cluster_id, "same-story", None, [], credited, [Member(m, "same-story") for m in members]),
            [DirectedEdge(v.a, v.b, v) for v in edges],
        )
    involved = sorted({v.a for v in edges} | {v.b for v in edges})
    scores, evidence = origin_scores(involved, articles, derived_edges)
    # wire copy (its own credit names a wire service) ranks above every other member: outlets
    # rewrite the wire, and several short wire takes inside one long paper must not make the
    # paper their source; among wire texts, and among the rest, the origin score decides
    wire = {m for m in members if own_outlets(articles[m].credits) & WIRE_SERVICES}
    ranked = sorted(involved, key=lambda m: (m not in wire, -scores[m], -articles[m].evidence_chars, m))
    derived_members = {v.a for v in derived_edges} | {v.b for v in derived_edges}
    best = next(m for m in ranked if m in derived_members)
    outside = not own_outlets(articles[best].credits) and bool(
        credited_sources(articles[best].credits) - set().union(*(own_outlets(articles[m].credits) for m in members))
    )
    origin = None if outside else best
    rank = {m: position for position, m in enumerate(ranked)}
    if origin is not None:
        rank[origin] = -1
    directed = [DirectedEdge(v.a, v.b, v) if rank[v.a] < rank[v.b] else DirectedEdge(v.b, v.a, v) for v in edges]
    # pairs judged unrelated on their own still hold aligned passages; between a wire text and
    # another member of its cluster they add to what the wire texts cover of that member
    loose = (
        {
            (v.a, v.b): v
            for v in verdicts
            if v.relation == "unrelated"
            and v.passages
            and v.a in inside
            and v.b in inside
            and (v.a in wire) != (v.b in wire)
        }
        if settings.wire_union_unrelated
        else {}
    )
    records: list[Member] = []
    into: dict[str, list[DirectedEdge]] = {}  # each member's incoming edges, in ``directed``'s order
    for edge in directed:
        into.setdefault(edge.target, []).append(edge)
    wire_order = sorted(wire)
    for m in members:
        if m == origin:
            records.append(Member(m, "origin"))
            continue
        incoming = list(into.get(m, ()))
        if m not in wire and loose:
            for o in wire_order:
                verdict = loose.get((min(m, o), max(m, o)))
                if verdict is not None:
                    edge = DirectedEdge(o, m, verdict)
                    incoming.append(edge)
                    directed.append(edge)
        primary = [e.source for e in incoming if e.source == origin or e.source in wire]
        if primary:
            # wire copy among its sources: derived when the wire texts together cover enough of it
            # (several PA takes or versions each cover a part of one newspaper story)
            union, union_verbatim = _union_coverage(m, primary, articles, [e.verdict for e in incoming])
            is_derived = union >= settings.wire_derived_coverage or union_verbatim >= settings.wire_derived_verbatim
        else:
            is_derived = any(e.verdict.relation in DERIVED for e in incoming)
        if not is_derived:
            records.append(Member(m, "same-story"))
            continue
        # a derived member's sources: every higher-ranked member it shares passages with,
        # the origin and wire copy first (what a rewrite of a rewrite ultimately came from)
        incoming.sort(
            key=lambda e: (
                e.source != origin and not own_outlets(articles[e.source].credits) & WIRE_SERVICES,
                e.verdict.relation not in DERIVED,
                -_coverage_of(e.verdict, m),
                rank.get(e.source, len(rank)),
                e.source,
            )
        )
        coverage = max(_coverage_of(e.verdict, m) for e in incoming)
        records.append(
            Member(
                m,
                "derived",
                sources=[e.source for e in incoming],
                coverage=round(coverage, 4),
                extent="whole" if coverage >= settings.whole_coverage else "partial",
            )
        )
    relation = "duplicate" if all(v.relation == "duplicate" for v in edges) else "derived"
    origin_evidence = evidence[best] if origin else []
    return Cluster(cluster_id, relation, origin, origin_evidence, credited, records), directed
