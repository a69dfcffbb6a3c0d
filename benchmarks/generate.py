"""Labelled syndication corpora of any size, built from real article text.

    python benchmarks/generate.py --size 10000 --seed 1 --output /tmp/corpus-10k [--format jsonl|folder]

Origin stories are real Reuters-21578 and BBC News articles (../shared/data). Each origin gets derived
articles made the ways outlets do it: verbatim copies under another outlet's header and boilerplate, trims
(first paragraphs only), light edits, sentence drops and reorders, partial rewrites that keep quotes and
figures and reword the rest; with an agency credit line ("(Reuters) -", "With information from AFP") or
none. The rest of the corpus is unrelated articles and same-topic distractors (other articles of the same
Reuters topic / BBC category). No two real texts of the pool share real text (``load_pool``: no verbatim run of
15+ words beyond stock phrases, no 20 % of their shingles), so "unrelated" in the truth is true of the text.
When the real pool runs out (11,246 texts: from ~15.3k articles on), further origins and unrelated articles
are synthetic: an order-2 word Markov chain over the same real text (with back-off,
so it does not copy long runs), flagged ``synthetic`` in the truth.

Writes ``corpus.jsonl`` (``{"id", "text", "title", "outlet", "published"}`` per line, in a shuffled order
that does not follow the clusters) or a folder of ``<id>.json`` files, and ``truth.json``: the clusters
(origin first, each member's ``kind`` and ``credit``), the distractors, per derived article the ``spans``
(target span → origin span, ``verbatim`` or ``rewrite``, exact character offsets) and the parameters.
Generation is a pure function of (size, seed, parameters, data): the same call gives the same bytes; each
article comes from its own seeded RNG, so two worker processes produce the same output as one.
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing
import random
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPOSITORY.parent / "shared" / "data"
TRUTH_SCHEMA = 1
POOL_VERSION = 2  # 1: near-duplicates dropped through bottom-k anchors (to stop 15); 2: no shared real text

# --- the real text pool -------------------------------------------------------------------------------------

_REUTERS_SIGNOFF = re.compile(r"\s*\bReut(?:er|ers)?\b\s*(?:&#\d+;)?\s*$", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t]{2,}|\s*\n)\s*")
_SENTENCE_BREAK = re.compile(r"[.!?][\"'”’)]*(?=\s+[\"'“‘(]?[A-Z0-9])")
_ABBREVIATION_END = re.compile(
    r"\b(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Inc|Corp|Co|Ltd|No|U\.S|U\.K|Jan|Feb|Aug|Sept?|Oct|Nov|Dec)\.$"
)
_WORD = re.compile(r"\w+")


@dataclass(slots=True)
class Source:
    """One real article of the pool: paragraphs of sentences, a topic, where it came from."""

    key: str
    title: str
    topic: str
    paragraphs: list[list[str]]

    @property
    def words(self) -> int:
        return sum(len(sentence.split()) for paragraph in self.paragraphs for sentence in paragraph)


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph (a small rule set: terminal punctuation before a capital)."""
    pieces: list[str] = []
    begin = 0
    for match in _SENTENCE_BREAK.finditer(paragraph):
        candidate = paragraph[begin : match.end()].strip()
        if _ABBREVIATION_END.search(candidate):
            continue
        pieces.append(candidate)
        begin = match.end()
    pieces.append(paragraph[begin:].strip())
    return [piece for piece in pieces if piece]


def _paragraphs(body: str) -> list[list[str]]:
    result = []
    for block in _PARAGRAPH_BREAK.split(body.strip()):
        text = " ".join(block.split())
        if text:
            result.append(split_sentences(text))
    return result


@dataclass(slots=True, frozen=True)
class Independence:
    """When two pool texts count as sharing real text (``load_pool`` keeps only one of them).

    ``gram``: words per shingle (lower-cased ``\\w+`` tokens of the body); ``stock_texts``: a shingle found in this
    many raw pool texts or more is stock (house phrases and templates: "in a filing with the Securities and
    Exchange Commission", "selling concession is 1-1/2 pct while management and underwriting combined pays 3/4
    pct") and counts neither way; ``run_words``: a verbatim run this long, made of consecutive shared non-stock
    shingles on one alignment diagonal, is reuse; ``containment``: so is this share of the smaller text's distinct
    non-stock shingles found in the other (edited re-sends, whose runs break every dozen words).
    """

    gram: int = 8
    stock_texts: int = 20
    run_words: int = 15
    containment: float = 0.2


def body_words(source: Source) -> list[str]:
    """The lower-cased word tokens of a pool text's body (what the independence rule compares)."""
    return [word.lower() for word in _WORD.findall(" ".join(s for p in source.paragraphs for s in p))]


def _gram_hashes(word_ids: list[int], gram: int) -> np.ndarray:
    """A 64-bit hash of every ``gram``-word window (a polynomial over word ids; runs are checked word by word)."""
    ids = np.asarray(word_ids, dtype=np.uint64) + np.uint64(1)
    count = len(ids) - gram + 1
    hashes = np.zeros(max(count, 0), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(gram):
            hashes = hashes * np.uint64(1_000_003) + ids[offset : offset + count] * np.uint64(0x9E3779B97F4A7C15)
    return hashes


def shared_text(
    words: Sequence[Sequence[str]], rule: Independence = Independence()
) -> tuple[list[int], dict[int, tuple[int, int, float]]]:
    """Which texts share real text with an earlier kept one: the kept indices and, per dropped index, its evidence.

    Exact over all shingles (an inverted index of every ``rule.gram``-word window, not a sample): text ``b`` is
    dropped when, with some earlier text ``a`` still kept, the longest verbatim run of shared non-stock shingles
    is at least ``rule.run_words`` words, or the shared non-stock shingles are at least ``rule.containment`` of
    the smaller text's. Evidence: (``a``, run words, containment).
    """
    vocabulary: dict[str, int] = {}
    hashes, texts, positions = [], [], []
    for number, text in enumerate(words):
        found = _gram_hashes([vocabulary.setdefault(word, len(vocabulary)) for word in text], rule.gram)
        hashes.append(found)
        texts.append(np.full(len(found), number, dtype=np.int64))
        positions.append(np.arange(len(found), dtype=np.int64))
    if not hashes:
        return [], {}
    hash_all, text_all, position_all = np.concatenate(hashes), np.concatenate(texts), np.concatenate(positions)
    order = np.lexsort((position_all, text_all, hash_all))
    hash_all, text_all, position_all = hash_all[order], text_all[order], position_all[order]
    starts = np.concatenate(([True], hash_all[1:] != hash_all[:-1]))
    group = np.cumsum(starts) - 1
    new_text = starts | np.concatenate(([True], text_all[1:] != text_all[:-1]))
    texts_per_gram = np.bincount(group, weights=new_text)[group]
    stock = texts_per_gram >= rule.stock_texts
    # distinct non-stock shingles per text: the containment's denominators
    own = np.bincount(text_all[new_text & ~stock], minlength=len(words))
    shared = (texts_per_gram >= 2) & ~stock
    group_shared, text_shared, position_shared = group[shared], text_all[shared], position_all[shared]
    bounds = np.flatnonzero(np.concatenate(([True], group_shared[1:] != group_shared[:-1], [True])))
    hits: dict[tuple[int, int], list[tuple[int, int]]] = {}
    common: dict[tuple[int, int], int] = {}  # distinct shared non-stock shingles per pair
    text_list, position_list = text_shared.tolist(), position_shared.tolist()
    for begin, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        pairs_here = set()
        for first in range(begin, end):
            for second in range(first + 1, end):
                pair = (text_list[first], text_list[second])
                if pair[0] != pair[1]:
                    hits.setdefault(pair, []).append((position_list[first], position_list[second]))
                    pairs_here.add(pair)
        for pair in pairs_here:
            common[pair] = common.get(pair, 0) + 1
    partners: dict[int, list[int]] = {}
    for earlier, later in hits:
        partners.setdefault(later, []).append(earlier)
    kept: list[int] = []
    dropped: dict[int, tuple[int, int, float]] = {}
    for later in range(len(words)):
        for earlier in sorted(partners.get(later, ())):
            if earlier in dropped:
                continue
            pairs = hits[(earlier, later)]
            run = _longest_run(words[earlier], words[later], pairs, rule.gram)
            containment = common[(earlier, later)] / max(min(own[earlier], own[later]), 1)
            if run >= rule.run_words or containment >= rule.containment:
                dropped[later] = (earlier, run, round(float(containment), 3))
                break
        else:
            kept.append(later)
    return kept, dropped


def _longest_run(first: Sequence[str], second: Sequence[str], hits: list[tuple[int, int]], gram: int) -> int:
    """Words in the longest chain of consecutive shared shingles on one diagonal, checked word by word."""
    by_diagonal: dict[int, list[int]] = {}
    for a, b in hits:
        by_diagonal.setdefault(a - b, []).append(b)
    best = 0
    for diagonal, starts in by_diagonal.items():
        starts = sorted(set(starts))
        run_start = previous = starts[0]
        for start in [*starts[1:], None]:
            if start is not None and start == previous + 1:
                previous = start
                continue
            length = previous - run_start + gram
            if (
                length > best
                and first[run_start + diagonal : run_start + diagonal + length]
                == second[run_start : run_start + length]
            ):
                best = length
            if start is not None:
                run_start = previous = start
    return best


def load_pool(data: Path, min_words: int = 80, rule: Independence = Independence()) -> list[Source]:
    """The real articles to build from: Reuters-21578 and BBC bodies of ``min_words`` words and up, prose only,
    no two of which share real text.

    Tabular earnings reports ("Shr 10 cts vs 5 cts") are left out, and so is every text that shares real text
    with an earlier kept one (``shared_text`` under ``rule``): re-sends and corrections, and the follow-ups of one
    running story that repeat its lead or background paragraphs verbatim. Otherwise the truth would call two such
    texts unrelated when a reader, and the tool, sees one reuse the other. Shared stock phrases and template
    scaffolding do not count: those pairs stay in as hard negatives.
    """
    sources = read_sources(data, min_words)
    kept, _ = shared_text([body_words(source) for source in sources], rule)
    return [sources[index] for index in kept]


def read_sources(data: Path, min_words: int = 80) -> list[Source]:
    """Every Reuters-21578 and BBC text the pool may use, in file order (Reuters by ``newid``, then BBC)."""
    sources: list[Source] = []
    with open(data / "reuters21578" / "reuters21578.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            body = row.get("body") or ""
            body = body[:-40] + _REUTERS_SIGNOFF.sub("", body[-40:])
            if len(body.split()) < min_words or body.count(" vs ") >= 3:
                continue
            paragraphs = _paragraphs(body)
            if sum(len(p) for p in paragraphs) < 3 or len(paragraphs) < 2:
                continue
            title = " ".join((row.get("title") or "").split()).title()
            topic = "reuters/" + ((row.get("topics") or ["none"])[0])
            sources.append(Source(f"reuters:{row['newid']}", title, topic, paragraphs))
    with open(data / "bbc" / "bbc_news.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            text = row["text"]
            if len(text.split()) < min_words:
                continue
            sources.append(
                Source(f"bbc:{row['id']}", row["title"].strip(), "bbc/" + row["category"], _paragraphs(text))
            )
    return sources


# --- synthetic text (when the pool runs out) ---------------------------------------------------------------


class MarkovText:
    """An order-2 word Markov chain over the pool, backing off to order 1 where order 2 has one continuation.

    The back-off keeps it from copying long runs of one article, so two synthetic articles share no more
    5-grams than two unrelated real ones do.
    """

    def __init__(self, sources: Sequence[Source], max_sentences: int = 120_000) -> None:
        self.second: dict[tuple[str, str], list[str]] = {}
        self.first: dict[str, list[str]] = {}
        count = 0
        for source in sources:
            for paragraph in source.paragraphs:
                for sentence in paragraph:
                    words = ["<s>", "<s>", *sentence.split(), "</s>"]
                    for a, b, c in zip(words, words[1:], words[2:], strict=False):
                        self.second.setdefault((a, b), []).append(c)
                        self.first.setdefault(b, []).append(c)
                    count += 1
            if count >= max_sentences:
                break

    def sentence(self, rng: random.Random, max_words: int = 45) -> str:
        a, b = "<s>", "<s>"
        words: list[str] = []
        while len(words) < max_words:
            options = self.second[(a, b)]
            if len(set(options[:8])) < 2 and b != "<s>":
                options = self.first[b]
            word = options[rng.randrange(len(options))]
            if word == "</s>":
                break
            words.append(word)
            a, b = b, word
        text = " ".join(words)
        return text if text[-1:] in ".!?\"'" else text + "."

    def source(self, rng: random.Random, key: str, words: int) -> Source:
        paragraphs: list[list[str]] = []
        total = 0
        while total < words:
            paragraph = [self.sentence(rng) for _ in range(rng.randint(1, 3))]
            total += sum(len(s.split()) for s in paragraph)
            paragraphs.append(paragraph)
        if len(paragraphs) < 2:
            paragraphs.append([self.sentence(rng)])
        title = " ".join(self.sentence(rng, 9).rstrip(".").split()[:9])
        return Source(key, title, "synthetic", paragraphs)


# --- outlets, boilerplate, credits --------------------------------------------------------------------------

WIRES = ("Reuters", "AFP", "AP", "Bloomberg", "PA")
_CITIES = (
    "Harbor City",
    "Westfield",
    "Northgate",
    "Riverside",
    "Lakeshore",
    "Eastbrook",
    "Granite Falls",
    "Millbrook",
    "Port Avery",
    "Kingsbridge",
    "Oakdale",
    "Summerton",
    "Bayview",
    "Ashford",
    "Redcliff",
    "Clearwater",
)
_PAPERS = ("Times", "Herald", "Courier", "Ledger", "Post", "Gazette", "Tribune", "Observer", "Daily", "Chronicle")
OUTLETS = tuple(f"The {city} {paper}" for city in _CITIES for paper in _PAPERS)
_DATELINE_CITIES = ("LONDON", "NEW YORK", "WASHINGTON", "PARIS", "TOKYO", "BRUSSELS", "FRANKFURT", "SYDNEY")
_MONTHS = ("Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov", "Dec")
_SECTIONS = ("News", "World", "Business", "Markets", "Politics", "Sport", "Tech", "Opinion", "Video", "Culture")
_SHARE = ("Share this article", "Share on Facebook", "Share on X", "Follow us on Instagram", "Click here to comment")
_SIGNUP = (
    "Sign up for our morning newsletter",
    "Subscribe to get the latest headlines",
    "Download our app for breaking news alerts",
)


def _outlet_rng(outlet: str) -> random.Random:
    return random.Random(f"outlet:{outlet}")


def outlet_menu(outlet: str) -> str:
    """The outlet's navigation line (fixed per outlet, so it repeats across its articles)."""
    rng = _outlet_rng(outlet)
    return " | ".join(["Home", *rng.sample(_SECTIONS, rng.randint(4, 7))])


def header_lines(outlet: str, rng: random.Random) -> list[str]:
    lines = [outlet, outlet_menu(outlet)]
    if rng.random() < 0.5:
        lines.append("Advertisement")
    return lines


def footer_lines(outlet: str, rng: random.Random, headlines: Sequence[str]) -> list[str]:
    lines: list[str] = []
    if rng.random() < 0.6:
        lines.append(rng.choice(_SHARE))
    if rng.random() < 0.7 and headlines:
        lines.append(rng.choice(("Related stories", "More stories", "Most read", "Read more")))
        lines.extend(rng.sample(list(headlines), min(len(headlines), rng.randint(1, 3))))
    if rng.random() < 0.4:
        lines.append(rng.choice(_SIGNUP))
    lines.append(f"©{rng.choice((2023, 2024))} {outlet.removeprefix('The ')}. All rights reserved.")
    return lines


# --- paraphrase without a model -----------------------------------------------------------------------------

SYNONYMS: dict[str, tuple[str, ...]] = {
    "increase": ("rise",),
    "increased": ("rose", "climbed"),
    "rose": ("climbed", "increased"),
    "fell": ("dropped", "declined"),
    "declined": ("fell",),
    "dropped": ("fell",),
    "company": ("firm",),
    "companies": ("firms",),
    "firm": ("company",),
    "profit": ("earnings",),
    "profits": ("earnings",),
    "shares": ("stock",),
    "expected": ("forecast", "anticipated"),
    "expects": ("anticipates",),
    "about": ("around", "roughly"),
    "approximately": ("about",),
    "announced": ("unveiled", "disclosed"),
    "government": ("administration",),
    "officials": ("authorities",),
    "big": ("large",),
    "large": ("big", "sizeable"),
    "major": ("key", "leading"),
    "however": ("but",),
    "because": ("as",),
    "buy": ("purchase",),
    "bought": ("purchased", "acquired"),
    "sell": ("offload",),
    "sold": ("offloaded",),
    "help": ("aid",),
    "start": ("begin",),
    "started": ("began",),
    "began": ("started",),
    "ended": ("closed",),
    "people": ("individuals",),
    "month": ("month",),
    "earlier": ("previously",),
    "recently": ("lately",),
    "agreed": ("consented",),
    "plan": ("scheme",),
    "talks": ("negotiations",),
    "meeting": ("session",),
    "cut": ("reduce",),
    "said": ("stated", "added"),
    "told": ("informed",),
    "spokesman": ("representative",),
    "spokeswoman": ("representative",),
    "rates": ("levels",),
    "strong": ("robust",),
    "weak": ("soft",),
    "higher": ("greater",),
    "lower": ("smaller",),
    "country": ("nation",),
    "nations": ("countries",),
    "important": ("significant",),
    "total": ("overall",),
    "said on": ("stated on",),
    "chief executive": ("CEO",),
    "last year": ("a year earlier",),
    "next year": ("in the coming year",),
    "according to": ("citing",),
    "as well as": ("and",),
    "mln": ("million",),
    "pct": ("percent",),
    "per cent": ("percent",),
    "dlrs": ("dollars",),
    "U.S.": ("US",),
    "film": ("movie",),
    "game": ("match",),
    "win": ("victory",),
    "won": ("secured",),
    "minister": ("secretary",),
    "election": ("vote",),
    "users": ("customers",),
    "music": ("songs",),
    "could": ("might",),
    "may": ("might",),
    "will": ("is set to",),
    "currently": ("at present", "now"),
    "despite": ("in spite of",),
    "before": ("prior to",),
    "after": ("following",),
    "during": ("throughout",),
    "new": ("fresh",),
    "says": ("states",),
    "show": ("reveal",),
    "showed": ("revealed",),
    "shows": ("reveals",),
    "think": ("believe",),
    "thought": ("believed",),
    "want": ("wish",),
    "wants": ("wishes",),
    "need": ("require",),
    "needs": ("requires",),
    "top": ("leading",),
    "key": ("crucial",),
    "main": ("principal",),
    "biggest": ("largest",),
    "largest": ("biggest",),
    "many": ("numerous",),
    "more than": ("over",),
    "less than": ("under",),
    "around": ("about",),
    "while": ("whereas",),
    "although": ("though",),
    "because of": ("due to",),
    "due to": ("because of",),
    "following": ("after",),
    "asked": ("questioned",),
    "added": ("continued",),
    "claimed": ("alleged",),
    "group": ("organisation",),
    "deal": ("agreement",),
    "agreement": ("deal",),
    "boss": ("manager",),
    "chief": ("head",),
    "team": ("side",),
    "match": ("game",),
    "season": ("campaign",),
    "keen": ("eager",),
    "move": ("switch",),
    "linked": ("connected",),
    "launch": ("start",),
    "bid": ("offer",),
    "offer": ("proposal",),
    "rise": ("increase",),
    "fall": ("drop",),
    "quarter": ("three months",),
    "reported": ("posted",),
    "including": ("among them",),
    "within": ("inside",),
    "very": ("highly",),
    "likely": ("probable",),
    "however,": ("but",),
    "told reporters": ("said",),
    "week": ("seven days",),
    "also": ("as well",),
    "should": ("ought to",),
    "must": ("has to",),
    "small": ("little",),
    "high": ("elevated",),
    "low": ("reduced",),
    "level": ("rate",),
    "industry": ("sector",),
    "business": ("trade",),
    "officials said": ("authorities said",),
    "raised": ("lifted",),
    "lost": ("shed",),
    "losses": ("deficits",),
    "sales": ("revenues",),
    "prices": ("costs",),
    "price": ("cost",),
    "that": ("which",),
    "which": ("that",),
    "it is": ("it's",),
    "is not": ("isn't",),
    "do not": ("don't",),
    "does not": ("doesn't",),
    "will not": ("won't",),
    "has been": ("was",),
    "have been": ("were",),
    "in order to": ("to",),
    "a number of": ("several",),
    "said it": ("stated it",),
    "there is": ("there's",),
    "would": ("could",),
    "now": ("currently",),
    "first": ("initial",),
    "last": ("previous",),
    "year": ("12 months",),
    "years": ("years",),
    "made": ("produced",),
    "make": ("produce",),
    "take": ("seize",),
    "took": ("seized",),
    "get": ("obtain",),
    "got": ("obtained",),
    "give": ("provide",),
    "gave": ("provided",),
    "set": ("fixed",),
    "good": ("positive",),
    "bad": ("negative",),
    "old": ("former",),
    "own": ("very own",),
    "other": ("further",),
    "some": ("certain",),
    "most": ("the majority of",),
    "all": ("every one of",),
    "only": ("just",),
    "still": ("yet",),
    "so": ("therefore",),
    "but": ("yet",),
    "and": ("as well as",),
    "with": ("alongside",),
    "from": ("out of",),
    "by": ("through",),
    "for": ("on behalf of",),
    "on": ("upon",),
    "at": ("in",),
    "into": ("inside",),
    "over": ("across",),
    "between": ("among",),
    "under": ("below",),
    "against": ("versus",),
    "to be": ("to become",),
    "their": ("its",),
    "his": ("the",),
    "her": ("the",),
    "was": ("had been",),
    "were": ("had been",),
    "are": ("remain",),
    "be": ("become",),
    "has": ("holds",),
    "have": ("hold",),
    "had": ("held",),
    "this": ("the",),
    "these": ("such",),
    "those": ("such",),
    "its": ("the",),
}
_SYNONYM_PATTERN = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(k) for k in sorted(SYNONYMS, key=len, reverse=True)) + r")(?![\w])",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"\b(\d+(?:\.\d+)?)(?:%| pct\b| per cent\b| percent\b)")
_MONEY = re.compile(r"\b(\d+(?:\.\d+)?) (mln|billion) dlrs\b")
_SAID_AFTER = re.compile(r"^(?P<what>[A-Z].{25,}?), (?P<who>(?:[A-Z][\w.'-]*\s?){1,4}) said\.$")
_SAID_BEFORE = re.compile(r"^(?P<who>(?:[A-Z][\w.'-]*\s){1,4})said(?: that)? (?P<what>[a-z].{25,})\.$")
_INTRO = re.compile(
    r"^(?P<lead>(?:In|On|At|During|After|Before|Since|Last|This|Earlier) [^,]{3,40}), (?P<rest>\w.{20,})\.$"
)
_QUOTES = ('"', "“", "”", "``")
FILLER_SENTENCES = (
    "The news comes at a busy time for the sector.",
    "Analysts will be watching the next figures closely.",
    "It was not immediately clear what the next steps would be.",
    "Further details were not disclosed.",
    "The move had been widely expected.",
    "Officials did not respond to a request for comment.",
)


def _match_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper() if word.islower() else word
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def reword(sentence: str, rng: random.Random, swap: float = 0.85) -> str:
    """A sentence-level paraphrase: synonyms, number formats, clause order; quotes are left alone."""
    if any(mark in sentence for mark in _QUOTES):
        return sentence

    def synonym(match: re.Match[str]) -> str:
        found = match.group(1)
        if rng.random() >= swap:
            return found
        return _match_case(found, rng.choice(SYNONYMS.get(found.lower(), (found,))))

    def percent(match: re.Match[str]) -> str:
        return (
            f"{match.group(1)} {rng.choice(('percent', 'per cent'))}" if "%" in match.group() else f"{match.group(1)}%"
        )

    text = _MONEY.sub(lambda m: f"${m.group(1)} {'million' if m.group(2) == 'mln' else 'billion'}", sentence)
    text = _PERCENT.sub(percent, text)
    text = _SYNONYM_PATTERN.sub(synonym, text)
    after = _SAID_AFTER.match(text)
    before = _SAID_BEFORE.match(text)
    if after and rng.random() < 0.7:
        text = f"{after['who']} said {after['what'][0].lower() + after['what'][1:]}."
    elif before and rng.random() < 0.7:
        text = f"{before['what'][0].upper() + before['what'][1:]}, {before['who'].strip()} said."
    elif (intro := _INTRO.match(text)) and rng.random() < 0.8:
        text = f"{intro['rest'][0].upper() + intro['rest'][1:]} {intro['lead'][0].lower() + intro['lead'][1:]}."
    return text


def light_edit(sentence: str, rng: random.Random) -> str:
    """A copy-editor's change: one or two words or one number format."""
    if rng.random() < 0.5 and _PERCENT.search(sentence):
        return _PERCENT.sub(lambda m: f"{m.group(1)} percent", sentence, count=1)
    matches = list(_SYNONYM_PATTERN.finditer(sentence))
    if not matches:
        return sentence.replace(" and ", " & ", 1) if " and " in sentence else sentence
    match = rng.choice(matches)
    found = match.group(1)
    replacement = _match_case(found, rng.choice(SYNONYMS.get(found.lower(), (found,))))
    return sentence[: match.start()] + replacement + sentence[match.end() :]


# --- building one article -----------------------------------------------------------------------------------

Segment = tuple[str, tuple[int, int] | None, str]  # text, origin span or None, "verbatim" | "rewrite"


@dataclass(slots=True)
class Built:
    """One generated article with its provenance."""

    id: str
    text: str
    title: str
    outlet: str
    published: str
    sentence_spans: list[tuple[int, int]] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    credit: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "title": self.title,
            "outlet": self.outlet,
            "published": self.published,
        }


def _assemble(
    header: Sequence[str], paragraphs: Sequence[Sequence[Segment]], footer: Sequence[str], inserts: dict[int, str]
) -> tuple[str, list[tuple[int, int]], list[dict[str, Any]]]:
    """Join header lines, body paragraphs (sentences joined by spaces) and footer lines.

    Returns the text, the span of every body sentence, and the reuse spans (target → origin) with
    neighbouring verbatim pieces merged where the text between them is the same on both sides.
    """
    parts: list[str] = []
    position = 0
    sentence_spans: list[tuple[int, int]] = []
    spans: list[dict[str, Any]] = []

    def add(text: str) -> int:
        nonlocal position
        parts.append(text)
        start = position
        position += len(text)
        return start

    for line in header:
        add(line + "\n\n")
    for index, paragraph in enumerate(paragraphs):
        if index in inserts:
            add(inserts[index] + "\n\n")
        for number, (text, origin, kind) in enumerate(paragraph):
            if number:
                add(" ")
            start = add(text)
            sentence_spans.append((start, start + len(text)))
            if origin is not None:
                spans.append({"target": [start, start + len(text)], "origin": list(origin), "kind": kind})
        add("\n\n")
    for line in footer:
        add(line + "\n")
    text = "".join(parts).rstrip("\n") + "\n"
    return text, sentence_spans, spans


def merge_spans(spans: list[dict[str, Any]], target: str, origin: str) -> list[dict[str, Any]]:
    """Merge consecutive verbatim spans whose gaps hold the same text in target and origin."""
    merged: list[dict[str, Any]] = []
    for span in spans:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last["kind"] == span["kind"] == "verbatim"
            and target[last["target"][1] : span["target"][0]] == origin[last["origin"][1] : span["origin"][0]]
            and span["origin"][0] >= last["origin"][1]
        ):
            last["target"][1] = span["target"][1]
            last["origin"][1] = span["origin"][1]
        else:
            merged.append({"target": list(span["target"]), "origin": list(span["origin"]), "kind": span["kind"]})
    return merged


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True, frozen=True)
class Plan:
    """One article slot: what to build, from which source, with which seed."""

    index: int
    id: str
    role: str  # origin | derived | distractor | unrelated
    source: int  # index into the pool, or -1 - n for the n-th synthetic text
    cluster: int = -1
    kind: str = ""
    near: str = ""  # distractors: the origin id whose topic they share


@dataclass(slots=True, frozen=True)
class Parameters:
    size: int
    seed: int
    cluster_share: float = 0.35
    distractor_share: float = 0.1
    mean_derived: float = 3.0
    kinds: tuple[tuple[str, float], ...] = (
        ("copy", 0.25),
        ("trim", 0.15),
        ("edit", 0.15),
        ("reorder", 0.15),
        ("rewrite", 0.30),
    )
    credits: tuple[tuple[str, float], ...] = (("dateline", 0.35), ("footer", 0.3), ("none", 0.35))
    synthetic_words: int = 320


class Generator:
    """Builds the articles of a plan; every article from its own RNG (``seed:index``)."""

    def __init__(self, pool: Sequence[Source], markov: MarkovText | None, parameters: Parameters) -> None:
        self.pool = pool
        self.markov = markov
        self.parameters = parameters
        self.headlines = [source.title for source in pool[:2000] if source.title]

    def rng(self, *parts: object) -> random.Random:
        return random.Random(":".join(str(part) for part in (self.parameters.seed, *parts)))

    def source(self, index: int) -> Source:
        if index >= 0:
            return self.pool[index]
        assert self.markov is not None, "synthetic text needs the Markov chain"
        rng = self.rng("synthetic", -1 - index)
        words = max(80, int(rng.gauss(self.parameters.synthetic_words, 120)))
        return self.markov.source(rng, f"synthetic:{-1 - index}", words)

    def cluster_facts(self, cluster: int) -> tuple[str, datetime, str]:
        """The origin's outlet, publication time and dateline city (shared by all of a cluster's members)."""
        rng = self.rng("cluster", cluster)
        start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(365 * 24 * 60))
        return rng.choice(WIRES), start, rng.choice(_DATELINE_CITIES)

    def origin(self, plan: Plan) -> Built:
        """The wire original: agency header, dateline credit on the first sentence, the whole story."""
        source = self.source(plan.source)
        wire, published, city = self.cluster_facts(plan.cluster)
        rng = self.rng("article", plan.index)
        dateline = f"{city}, {_MONTHS[published.month - 1]} {published.day} ({wire}) - "
        paragraphs: list[list[Segment]] = [[(s, None, "verbatim") for s in p] for p in source.paragraphs]
        first_text = paragraphs[0][0][0]
        paragraphs[0][0] = (dateline + first_text, None, "verbatim")
        header = [wire, source.title] if rng.random() < 0.7 else [wire]
        footer = [f"Reporting by {rng.choice(('staff', 'our correspondents', 'the newsdesk'))}; Editing by the desk"]
        if wire == "Bloomberg":
            footer.append(f"©{published.year} Bloomberg L.P.")
        text, sentence_spans, _ = _assemble(header, paragraphs, footer, {})
        return Built(plan.id, text, source.title, wire, _iso(published), sentence_spans, credit="own")

    def derived(self, plan: Plan, origin_plan: Plan) -> Built:
        """A derived article of ``kind``, its reuse spans into the origin text."""
        origin = self.origin(origin_plan)
        source = self.source(plan.source)
        wire, published, _ = self.cluster_facts(plan.cluster)
        rng = self.rng("article", plan.index)
        outlet = rng.choice(OUTLETS)
        when = published + timedelta(minutes=rng.randint(5, 72 * 60))
        credit = _weighted(rng, self.parameters.credits)
        # origin sentences with their spans in the origin text (the dateline stays with sentence 0)
        spans_iter = iter(origin.sentence_spans)
        sentences: list[list[Segment]] = []
        for paragraph in source.paragraphs:
            row = []
            for _ in paragraph:
                begin, end = next(spans_iter)
                row.append((origin.text[begin:end], (begin, end), "verbatim"))
            sentences.append(row)
        dateline_end = origin.text.index(") - ", origin.sentence_spans[0][0]) + 4
        if credit != "dateline":  # drop the agency dateline from the first sentence
            text, (begin, end), kind = sentences[0][0]
            cut = dateline_end - begin
            sentences[0][0] = (text[cut:], (dateline_end, end), kind)
        kind = plan.kind
        body = self._transform(kind, sentences, rng)
        if not body or not any(body):
            body = [sentences[0][:1]]
        title = source.title if kind in ("copy", "trim") or rng.random() < 0.5 else reword(source.title, rng)
        header = header_lines(outlet, rng)
        if rng.random() < 0.6:
            header.append(title)
        footer = []
        if credit == "footer":
            footer.append(rng.choice((f"With information from {wire}.", f"Additional reporting by {wire}.")))
        footer += footer_lines(outlet, rng, self.headlines)
        inserts = {}
        if len(body) > 2 and rng.random() < 0.4:
            inserts[rng.randint(1, len(body) - 1)] = rng.choice(("Advertisement", "READ MORE", "Story continues below"))
        text, _, spans = _assemble(header, body, footer, inserts)
        return Built(
            plan.id, text, title, outlet, _iso(when), spans=merge_spans(spans, text, origin.text), credit=credit
        )

    def _transform(self, kind: str, paragraphs: list[list[Segment]], rng: random.Random) -> list[list[Segment]]:
        if kind == "copy":
            return paragraphs
        if kind == "trim":
            keep = rng.randint(1, max(1, len(paragraphs) - 1)) if len(paragraphs) > 1 else 1
            return paragraphs[:keep]
        if kind == "edit":
            result = []
            for paragraph in paragraphs:
                row = []
                for text, origin, how in paragraph:
                    if rng.random() < 0.2:
                        edited = light_edit(text, rng)
                        row.append((edited, origin, "rewrite" if edited != text else how))
                    else:
                        row.append((text, origin, how))
                result.append(row)
            return result
        if kind == "reorder":
            flat = [segment for paragraph in paragraphs for segment in paragraph]
            drops = {i for i in range(1, len(flat)) if rng.random() < 0.15}
            kept = [segment for i, segment in enumerate(flat) if i not in drops] or flat[:1]
            head, rest = kept[:2], kept[2:]
            cut = rng.randint(0, len(rest)) if rest else 0
            rest = rest[cut:] + rest[:cut]
            return _regroup([*head, *rest], rng)
        if kind == "rewrite":
            result = []
            for number, paragraph in enumerate(paragraphs):
                row = []
                for text, origin, how in paragraph:
                    if number and rng.random() < 0.2:
                        continue
                    if rng.random() < 0.1 or any(mark in text for mark in _QUOTES):
                        row.append((text, origin, how))
                        continue
                    changed = reword(text, rng)
                    row.append((changed, origin, "rewrite" if changed != text else how))
                if rng.random() < 0.15:
                    row.append((rng.choice(FILLER_SENTENCES), None, "verbatim"))
                if row:
                    result.append(row)
            return result
        raise ValueError(f"unknown kind {kind!r}")

    def standalone(self, plan: Plan) -> Built:
        """An unrelated article or a same-topic distractor under a random outlet's furniture."""
        source = self.source(plan.source)
        rng = self.rng("article", plan.index)
        outlet = rng.choice(OUTLETS + WIRES)
        when = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(365 * 24 * 60))
        body = [[(s, None, "verbatim") for s in p] for p in source.paragraphs]
        header = header_lines(outlet, rng) + ([source.title] if rng.random() < 0.6 else [])
        text, _, _ = _assemble(header, body, footer_lines(outlet, rng, self.headlines), {})
        return Built(plan.id, text, source.title, outlet, _iso(when))


def _regroup(segments: list[Segment], rng: random.Random) -> list[list[Segment]]:
    paragraphs: list[list[Segment]] = []
    position = 0
    while position < len(segments):
        size = rng.randint(1, 3)
        paragraphs.append(segments[position : position + size])
        position += size
    return paragraphs


def _weighted(rng: random.Random, choices: Sequence[tuple[str, float]]) -> str:
    total = sum(weight for _, weight in choices)
    cumulative = []
    running = 0.0
    for _, weight in choices:
        running += weight / total
        cumulative.append(running)
    return choices[min(bisect.bisect(cumulative, rng.random()), len(choices) - 1)][0]


# --- the plan: which slot is what ---------------------------------------------------------------------------


def make_plan(pool: Sequence[Source], parameters: Parameters) -> list[Plan]:
    """Assign every slot a role and a source; ids are a shuffled numbering so files do not follow clusters.

    Real texts go first to origins (up to half the pool), then to same-topic distractors, then to unrelated
    articles; what is still missing is synthetic. A real text is used by one slot only.
    """
    rng = random.Random(f"{parameters.seed}:plan")
    size = parameters.size
    order = list(range(len(pool)))
    rng.shuffle(order)
    clustered_target = int(size * parameters.cluster_share)
    distractor_target = int(size * parameters.distractor_share)
    # cluster sizes: origin + 1..n derived (geometric around mean_derived)
    cluster_sizes: list[int] = []
    total = 0
    while total + 2 <= clustered_target:
        derived = 1
        while derived < 12 and rng.random() > 1 / parameters.mean_derived:
            derived += 1
        derived = min(derived, clustered_target - total - 1)
        cluster_sizes.append(derived + 1)
        total += derived + 1
    real_origins = min(len(cluster_sizes), len(pool) // 2)
    next_real = 0
    next_synthetic = 0

    def take_real() -> int:
        nonlocal next_real
        index = order[next_real]
        next_real += 1
        return index

    def take_synthetic() -> int:
        nonlocal next_synthetic
        next_synthetic += 1
        return -next_synthetic

    roles: list[tuple[str, int, int, str, int]] = []  # role, source, cluster, kind, near-slot
    origin_slots: list[int] = []
    for cluster, members in enumerate(cluster_sizes):
        source = take_real() if cluster < real_origins else take_synthetic()
        origin_slots.append(len(roles))
        roles.append(("origin", source, cluster, "origin", -1))
        for _ in range(members - 1):
            roles.append(("derived", source, cluster, _weighted(rng, parameters.kinds), -1))
    # same-topic distractors: unused real articles of a real origin's topic
    unused_by_topic: dict[str, list[int]] = {}
    for index in order[next_real:]:
        unused_by_topic.setdefault(pool[index].topic, []).append(index)
    used: set[int] = set()
    distractors = 0
    for cluster in rng.sample(range(real_origins), real_origins):
        if distractors >= distractor_target:
            break
        topic = pool[roles[origin_slots[cluster]][1]].topic
        candidates = unused_by_topic.get(topic, [])
        while candidates and distractors < distractor_target:
            index = candidates.pop()
            used.add(index)
            roles.append(("distractor", index, -1, "", origin_slots[cluster]))
            distractors += 1
            if rng.random() < 0.5:
                break
    remaining_real = [index for index in order[next_real:] if index not in used]
    while len(roles) < size:
        source = remaining_real.pop() if remaining_real else take_synthetic()
        roles.append(("unrelated", source, -1, "", -1))
    numbers = list(range(size))
    rng.shuffle(numbers)
    width = len(str(size))
    ids = [f"a{number:0{width}d}" for number in numbers]
    return [
        Plan(slot, ids[slot], role, source, cluster, kind, ids[near] if near >= 0 else "")
        for slot, (role, source, cluster, kind, near) in enumerate(roles)
    ]


# --- running ------------------------------------------------------------------------------------------------

_WORKER: tuple[Generator, dict[int, Plan]] | None = None


def _build(generator: Generator, origins: dict[int, Plan], plan: Plan) -> Built:
    if plan.role == "origin":
        return generator.origin(plan)
    if plan.role == "derived":
        return generator.derived(plan, origins[plan.cluster])
    return generator.standalone(plan)


def _build_chunk(plans: list[Plan]) -> list[Built]:
    assert _WORKER is not None
    generator, origins = _WORKER
    return [_build(generator, origins, plan) for plan in plans]


def generate(
    size: int,
    seed: int,
    data: Path = DEFAULT_DATA,
    workers: int = 1,
    pool: Sequence[Source] | None = None,
    parameters: Parameters | None = None,
) -> Iterator[tuple[Plan, Built]]:
    """Every article of the corpus in file order (a shuffle of the plan), with its plan entry."""
    global _WORKER
    parameters = parameters or Parameters(size=size, seed=seed)
    pool = list(pool) if pool is not None else load_pool(data)
    plans = make_plan(pool, parameters)
    synthetic = any(plan.source < 0 for plan in plans)
    generator = Generator(pool, MarkovText(pool) if synthetic else None, parameters)
    origins = {plan.cluster: plan for plan in plans if plan.role == "origin"}
    order = sorted(plans, key=lambda plan: plan.id)
    if workers <= 1:
        for plan in order:
            yield plan, _build(generator, origins, plan)
        return
    _WORKER = (generator, origins)
    chunks = [order[k : k + 500] for k in range(0, len(order), 500)]
    with multiprocessing.get_context("fork").Pool(workers) as processes:
        for chunk, built in zip(chunks, processes.imap(_build_chunk, chunks), strict=True):
            yield from zip(chunk, built, strict=True)
    _WORKER = None


def write_corpus(
    output: Path,
    size: int,
    seed: int,
    data: Path = DEFAULT_DATA,
    fmt: str = "jsonl",
    workers: int = 1,
    pool: Sequence[Source] | None = None,
) -> dict[str, Any]:
    """Generate and write the corpus and ``truth.json`` under ``output``; returns the truth."""
    output.mkdir(parents=True, exist_ok=True)
    parameters = Parameters(size=size, seed=seed)
    clusters: dict[int, dict[str, Any]] = {}
    distractors: list[dict[str, Any]] = []
    spans: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, int] = {}
    pool = list(pool) if pool is not None else load_pool(data)
    folder = output / "articles"
    if fmt == "folder":
        folder.mkdir(exist_ok=True)
    handle = open(output / "corpus.jsonl", "w", encoding="utf-8") if fmt == "jsonl" else None  # noqa: SIM115
    try:
        for plan, built in generate(size, seed, data, workers, pool, parameters):
            line = json.dumps(built.record(), ensure_ascii=False)
            if handle is not None:
                handle.write(line + "\n")
            else:
                (folder / f"{built.id}.json").write_text(line + "\n", encoding="utf-8")
            key = plan.kind if plan.role == "derived" else plan.role
            counts[key] = counts.get(key, 0) + 1
            if plan.source < 0:
                counts["synthetic"] = counts.get("synthetic", 0) + 1
            source_key = pool[plan.source].key if plan.source >= 0 else f"synthetic:{-1 - plan.source}"
            if plan.role in ("origin", "derived"):
                cluster = clusters.setdefault(plan.cluster, {"origin": None, "source": source_key, "members": []})
                topic = pool[plan.source].topic if plan.source >= 0 else "synthetic"
                cluster["topic"] = topic
                member = {"id": built.id, "kind": plan.kind, "credit": built.credit, "published": built.published}
                if plan.role == "origin":
                    cluster["origin"] = built.id
                    cluster["outlet"] = built.outlet
                else:
                    member["outlet"] = built.outlet
                    spans[built.id] = built.spans
                cluster["members"].append(member)
            elif plan.role == "distractor":
                distractors.append(
                    {"id": built.id, "topic": pool[plan.source].topic, "near": plan.near, "source": source_key}
                )
    finally:
        if handle is not None:
            handle.close()
    ordered = []
    for number in sorted(clusters):
        cluster = clusters[number]
        cluster["members"].sort(key=lambda m: (m["kind"] != "origin", m["id"]))
        ordered.append({"id": f"t{number + 1:06d}", **cluster})
    truth = {
        "schema": TRUTH_SCHEMA,
        "parameters": {
            **asdict(parameters),
            "data": "reuters21578+bbc",
            "pool_size": len(pool),
            "pool_version": POOL_VERSION,
            "pool_independence": asdict(Independence()),
        },
        "format": fmt,
        "corpus": "corpus.jsonl" if fmt == "jsonl" else "articles/",
        "counts": dict(sorted(counts.items())),
        "clusters": ordered,
        "distractors": sorted(distractors, key=lambda d: d["id"]),
        "spans": dict(sorted(spans.items())),
    }
    with open(output / "truth.json", "w", encoding="utf-8") as handle_truth:
        json.dump(truth, handle_truth, ensure_ascii=False, separators=(",", ":"))
    return truth


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, required=True, help="number of articles")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--output", type=Path, required=True, help="folder for corpus.jsonl (or articles/) + truth.json"
    )
    parser.add_argument("--format", choices=("jsonl", "folder"), default="jsonl")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    truth = write_corpus(args.output, args.size, args.seed, args.data, args.format, args.workers)
    print(
        f"{args.size} articles, {len(truth['clusters'])} clusters, {len(truth['distractors'])} distractors "
        f"→ {args.output} in {time.perf_counter() - started:.1f}s; counts {truth['counts']}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
