"""The HTML report: one self-contained page to *see* what was copied.

``build_report`` is a pure function returning the page as a string. The page holds its
CSS and JavaScript inline and loads nothing from anywhere (a Content-Security-Policy says
so too). The data travel as one JSON blob in a ``<script type="application/json">`` tag
with ``<``, ``>`` and ``&`` written as ``\\u003c`` … so no article text can close the tag;
the page's script builds the view from that blob with DOM calls and ``textContent`` only,
so article text is always shown, never run. The script is allowed by its SHA-256 hash:
an injected inline script or event handler would be refused even if it got into the DOM.

The view: a paginated overview of the clusters, and for the selected cluster its origin
and evidence, its members, and one pair at a time (origin and derived member) side by side
with the aligned passages highlighted, rendered only when asked for, so a 10k-article
result stays responsive. The layout of the blob is described in ``docs/report.md``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from difflib import SequenceMatcher
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from dedup.clean import boilerplate_lines, repeated_lines
from dedup.model import Article, Result
from dedup.write.jsondoc import result_to_dict

Span = tuple[int, int]
REPORT_DATA_VERSION = 1

_WORD = re.compile(r"\S+")
_NOT_WORD = re.compile(r"[^\w%$€£¥]+")


# --- data -------------------------------------------------------------------------------------------------


def word_diff(source: str, target: str) -> tuple[list[Span], list[Span]]:
    """Character ranges of the words that differ between two passage texts.

    Words are compared case-folded and without punctuation, with difflib's
    ``SequenceMatcher``; each range runs over a run of changed words (relative offsets
    into ``source`` and ``target``). Returns (changed in source, changed in target).
    """
    source_words = [(m.start(), m.end(), _normal_word(m.group())) for m in _WORD.finditer(source)]
    target_words = [(m.start(), m.end(), _normal_word(m.group())) for m in _WORD.finditer(target)]
    matcher = SequenceMatcher(None, [w for _, _, w in source_words], [w for _, _, w in target_words], autojunk=False)
    changed_source: list[Span] = []
    changed_target: list[Span] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i2 > i1:
            changed_source.append((source_words[i1][0], source_words[i2 - 1][1]))
        if j2 > j1:
            changed_target.append((target_words[j1][0], target_words[j2 - 1][1]))
    return changed_source, changed_target


def _normal_word(word: str) -> str:
    return _NOT_WORD.sub("", word.casefold()) or word


def article_metadata(articles: Iterable[Article]) -> dict[str, dict[str, str | None]]:
    """Article id → its outlet, publication date and title (what the report shows beside an id)."""
    return {a.id: {"outlet": a.outlet, "published": a.published, "title": a.title} for a in articles}


def boilerplate_spans(
    texts: Mapping[str, str],
    ids: Iterable[str] | None = None,
    *,
    min_articles: int = 3,
    keep_wrapped_repeated: bool = False,
) -> dict[str, list[Span]]:
    """Article id → its boilerplate line spans, marked as the pipeline marks them.

    Lines repeated across ``min_articles`` articles count as furniture, as in
    ``dedup.pipeline.cluster``; ``ids`` limits the result to the articles the report shows.
    """
    repeated = repeated_lines(texts.values(), min_articles=min_articles)
    wanted = texts.keys() if ids is None else [i for i in ids if i in texts]
    return {i: boilerplate_lines(texts[i], repeated, keep_wrapped_repeated=keep_wrapped_repeated) for i in wanted}


def _document(result: Result | Mapping[str, Any], texts: Mapping[str, str] | None) -> Mapping[str, Any]:
    if isinstance(result, Result):
        if texts is None:
            raise ValueError("a Result needs the article texts; pass texts= or a schema-1 document")
        return result_to_dict(result, dict(texts))
    return result


def _pieces(article_id: str, passages: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """Known pieces ``[begin, text]`` of an article whose text we lack, from the passage texts."""
    spans: dict[tuple[int, int], str] = {}
    for passage in passages:
        for side in ("source", "target"):
            if passage[side] == article_id:
                begin, end = passage[f"{side}_span"]
                spans[(begin, end)] = passage[f"{side}_text"]
    pieces: list[list[Any]] = []
    for (begin, end), text in sorted(spans.items()):
        if pieces and begin <= pieces[-1][0] + len(pieces[-1][1]):
            last_begin, last_text = pieces[-1]
            if end > last_begin + len(last_text):
                pieces[-1][1] = last_text + text[last_begin + len(last_text) - begin :]
        else:
            pieces.append([begin, text])
    return pieces


def _text_agrees(text: str, article_id: str, passages: Sequence[Mapping[str, Any]]) -> bool:
    """True when every passage text of ``article_id`` is found at its span in ``text``."""
    for passage in passages:
        for side in ("source", "target"):
            if passage[side] == article_id:
                begin, end = passage[f"{side}_span"]
                if text[begin:end] != passage[f"{side}_text"]:
                    return False
    return True


def _pairs(cluster: Mapping[str, Any], passage_ids: Sequence[int], passages: Sequence[Mapping[str, Any]]) -> list:
    """The cluster's (source, target) pairs with their passage indices: derived members first, in member order."""
    grouped: dict[tuple[str, str], list[int]] = {}
    for index in passage_ids:
        passage = passages[index]
        grouped.setdefault((passage["source"], passage["target"]), []).append(index)
    order = {member["id"]: k for k, member in enumerate(cluster["members"])}
    roles = {member["id"]: member["role"] for member in cluster["members"]}
    best = {member["id"]: (member["sources"] or [None])[0] for member in cluster["members"]}

    def rank(key: tuple[str, str]) -> tuple:
        source, target = key
        reused = roles.get(target) in ("derived", "duplicate")
        return (not reused, best.get(target) != source, order.get(target, len(order)), order.get(source, len(order)))

    pairs = []
    for source, target in sorted(grouped, key=rank):
        indices = sorted(
            grouped[(source, target)], key=lambda i: (passages[i]["target_span"], passages[i]["source_span"])
        )
        pairs.append({"source": source, "target": target, "passages": indices})
    return pairs


def report_data(
    result: Result | Mapping[str, Any],
    texts: Mapping[str, str] | None = None,
    boilerplate: Mapping[str, Sequence[Span]] | None = None,
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    title: str = "dedup report",
    comparison: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON blob the page renders from (layout in ``docs/report.md``).

    ``result`` is a ``Result`` (then ``texts`` is required) or a schema-1 document.
    ``texts`` maps id → article text as read; without it (or for an id it lacks, or whose
    text does not match the passages) the article is shown from its passage texts only.
    ``comparison`` turns the page into the view of one pair (``dedup compare``): its keys
    (``a``, ``b``, ``relation``, ``scores``) are shown on top, and passages outside any
    cluster are shown as that pair.
    """
    doc = _document(result, texts)
    texts = texts or {}
    boilerplate = boilerplate or {}
    metadata = metadata or {}
    passages = list(doc.get("passages", []))
    by_cluster: dict[str | None, list[int]] = {}
    for index, passage in enumerate(passages):
        by_cluster.setdefault(passage.get("cluster"), []).append(index)

    clusters = []
    for cluster in doc.get("clusters", []):
        entry = {key: cluster[key] for key in ("id", "relation", "origin", "origin_evidence", "credited_sources")}
        entry["members"] = cluster["members"]
        entry["pairs"] = _pairs(cluster, by_cluster.get(cluster["id"], []), passages)
        clusters.append(entry)
    if comparison is not None and not clusters:
        ids = [comparison["a"], comparison["b"]]
        pseudo = {
            "id": "compare",
            "relation": comparison.get("relation", "unrelated"),
            "origin": None,
            "origin_evidence": [],
            "credited_sources": [],
            "members": [{"id": i, "role": None, "sources": [], "coverage": None, "extent": None} for i in ids],
        }
        pseudo["pairs"] = _pairs(pseudo, by_cluster.get(None, []), passages)
        if not pseudo["pairs"]:
            pseudo["pairs"] = [{"source": ids[0], "target": ids[1], "passages": []}]
        clusters.append(pseudo)

    shown = sorted({member["id"] for cluster in clusters for member in cluster["members"]})
    used = sorted({i for c in clusters for p in c["pairs"] for i in p["passages"]})
    touching: dict[str, list[Mapping[str, Any]]] = {}
    for index in used:
        for side in ("source", "target"):
            touching.setdefault(passages[index][side], []).append(passages[index])
    articles: dict[str, dict[str, Any]] = {}
    for article_id in shown:
        own = touching.get(article_id, [])
        text = texts.get(article_id)
        entry: dict[str, Any] = {}
        if text is not None and _text_agrees(text, article_id, own):
            entry["text"] = text
            entry["boilerplate"] = [list(span) for span in boilerplate.get(article_id, [])]
        else:
            entry["pieces"] = _pieces(article_id, own)
            entry["boilerplate"] = []
        for key in ("outlet", "published", "title"):
            value = metadata.get(article_id, {}).get(key)
            entry[key] = None if value is None else str(value)
        articles[article_id] = entry

    compact: dict[str, dict[str, Any]] = {}
    for index in used:
        passage = passages[index]
        item: dict[str, Any] = {
            "source": passage["source"],
            "target": passage["target"],
            "source_span": list(passage["source_span"]),
            "target_span": list(passage["target_span"]),
            "kind": passage["kind"],
            "score": passage["score"],
        }
        if passage["kind"] == "rewrite":
            changed_source, changed_target = word_diff(passage["source_text"], passage["target_text"])
            item["changed_source"] = [list(span) for span in changed_source]
            item["changed_target"] = [list(span) for span in changed_target]
        compact[str(index)] = item

    return {
        "report": REPORT_DATA_VERSION,
        "title": title,
        "mode": "compare" if comparison is not None else "clusters",
        "comparison": dict(comparison) if comparison is not None else None,
        "counts": {
            "articles": len(doc.get("singletons", []))
            + len({m["id"] for c in doc.get("clusters", []) for m in c["members"]}),
            "clusters": len(doc.get("clusters", [])),
            "passages": len(passages),
            "singletons": len(doc.get("singletons", [])),
            "skipped": len(doc.get("skipped", [])),
        },
        "clusters": clusters,
        "passages": compact,
        "articles": articles,
        "singletons": list(doc.get("singletons", [])),
        "skipped": list(doc.get("skipped", [])),
    }


# --- page -------------------------------------------------------------------------------------------------


def embed_json(data: Any) -> str:
    """``data`` as JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` left raw."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _script_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


def build_report(
    result: Result | Mapping[str, Any],
    texts: Mapping[str, str] | None = None,
    boilerplate: Mapping[str, Sequence[Span]] | None = None,
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    title: str = "dedup report",
    comparison: Mapping[str, Any] | None = None,
) -> str:
    """The self-contained HTML page for ``result`` (arguments as for ``report_data``)."""
    data = report_data(result, texts, boilerplate, metadata, title=title, comparison=comparison)
    policy = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src '{_script_hash(_asset('report.js'))}'; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{_asset('report.css')}</style>\n</head>\n<body>\n"
        f'<header><h1>{html.escape(title)}</h1><p id="counts"></p>{_LEGEND}</header>\n'
        '<main><noscript><p class="warn">This report draws itself with JavaScript; '
        "please allow scripts for this local file.</p></noscript>\n"
        '<section id="overview" aria-label="Clusters"></section>\n'
        '<section id="detail" aria-live="polite"></section>\n'
        '<section id="others"></section>\n</main>\n'
        f'<script type="application/json" id="dedup-data">{embed_json(data)}</script>\n'
        f"<script>{_asset('report.js')}</script>\n</body>\n</html>\n"
    )


def write_report(path: str | Path, page: str) -> None:
    """Write the page (UTF-8, ``\\n`` line endings)."""
    with open(path, "w", encoding="utf-8", newline="\n") as stream:
        stream.write(page)


_LEGEND = (
    '<p class="legend"><span class="key"><span class="v">verbatim</span> copied word for word</span>'
    '<span class="key"><span class="r">rewrite</span> the same content reworded</span>'
    '<span class="key"><span class="new">new text</span> plain</span>'
    '<span class="key"><span class="bp">boilerplate</span> greyed</span>'
    '<span class="key">click a passage to find its partner; <kbd>n</kbd>/<kbd>p</kbd> next/previous</span></p>'
)


@cache
def _asset(name: str) -> str:
    """A file shipped beside this module (the page's stylesheet and script)."""
    return resources.files("dedup.write").joinpath(name).read_text(encoding="utf-8")
