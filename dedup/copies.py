"""Copies only: whole-article near-duplicates at corpus scale, fast.

No passages, no alignment: word 5-gram shingles of each article's prose lines, a MinHash
signature per article computed for whole batches at once in numpy, LSH bands to find
candidates, verification by signature agreement (estimated Jaccard ≥ threshold), and
connected components as clusters. Signatures are computed in worker processes over
batches streamed from the input, so memory holds signatures, not the corpus's text.

Two signature schemes, both stored with the parameters of every result:

- ``oph`` (default): one-permutation hashing with rotation densification (Li, Owen & Zhang
  2012; Shrivastava & Li 2014). Each shingle is hashed once; its top bits pick one of
  ``num_perm`` bins, its low 32 bits compete for that bin's minimum; an empty bin borrows
  from the next non-empty bin to its right. Two signatures agree in a bin with probability
  equal to the Jaccard similarity, at O(shingles) cost instead of O(shingles × num_perm).
- ``kperm``: classic MinHash, ``num_perm`` multiply-shift hash functions
  ``((a·x + b) mod 2⁶⁴) >> 32`` over the 32-bit shingle hash, one minimum per function.

Both are defined by the readable pure-Python ``reference_signature``; the hypothesis tests
check that the vectorised path gives the same numbers.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from dedup.errors import InputError, NoArticlesError, SettingsError
from dedup.model import Article, Cluster, Member, Result, Skipped
from dedup.wordruns import code_points, token_bounds, word_flags

log = logging.getLogger(__name__)

SCHEME_VERSION = "copies-1"
_MASK64 = (1 << 64) - 1
_WORD_PRIME = 0x100000001B3  # odd: invertible mod 2^64
_SHINGLE_MULTIPLIER = 0x9E3779B97F4A7C15
_BORROW_OFFSET = 0x9E3779B1  # added per bin of distance when an empty bin borrows (uint32 arithmetic)
_EMPTY = np.uint32(0xFFFFFFFF)
Progress = Callable[[str, int], Callable[[int], None]]


@dataclass(slots=True, frozen=True)
class CopiesSettings:
    """Parameters of the copies-only run; stored with every result."""

    scheme: str = "oph"
    num_perm: int = 128
    bands: int = 32
    shingle_size: int = 5
    threshold: float = 0.5
    seed: int = 1
    batch_size: int = 2000
    workers: int = 2

    def check(self) -> None:
        if self.scheme not in ("oph", "kperm"):
            raise SettingsError(f"unknown signature scheme {self.scheme!r} (oph or kperm)")
        if self.num_perm % self.bands:
            raise SettingsError("num_perm must be a multiple of bands")
        if self.scheme == "oph" and self.num_perm & (self.num_perm - 1):
            raise SettingsError("the oph scheme needs num_perm to be a power of two")
        if not 0 < self.threshold <= 1 or self.shingle_size < 1 or self.batch_size < 1 or self.workers < 1:
            raise SettingsError("threshold must be in (0, 1]; shingle_size, batch_size and workers at least 1")

    def describe(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "version": SCHEME_VERSION,
            "tokens": "casefolded [^\\W_]+ runs of prose lines, % = percent",
            "shingle_hash": "fmix64 of the polynomial (mod 2^64) of fmix64 word hashes",
            "rows": self.num_perm // self.bands,
        }


# --- readable reference ---------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_]+|%")
_FURNITURE_START = re.compile(r"(?:©|\(c\)|copyright\b)", re.IGNORECASE)


def prose_text(text: str) -> str:
    """The lines of ``text`` that are story, not page furniture, joined by newlines.

    Dropped: copyright lines, menus (" | "), and standalone headline-like lines (at most 16
    words, no sentence punctuation at the end, not a hard-wrapped fragment: the line before
    ends a sentence or is blank, the next one does not continue in lower case). A cheap
    cousin of ``dedup.clean.boilerplate_lines``: copies of one story under different outlets'
    furniture should compare on the story.
    """
    lines = text.splitlines()
    kept: list[str] = []
    previous_open = False  # the previous line is prose that did not end a sentence (wrapped text)
    for index, line in enumerate(lines):  # per line of every article: the checks are inlined, cheapest first
        stripped = line.strip()
        if not stripped:
            previous_open = False
            continue
        if (stripped[0] in _FURNITURE_FIRST and _FURNITURE_START.match(stripped)) or " | " in stripped:
            previous_open = False
            continue
        last = stripped[-1]
        # sentence punctuation at the end, possibly inside closing quotes or brackets
        final = last in _FINAL or (last in _CLOSERS and stripped.rstrip(_CLOSERS)[-1:] in _FINAL)
        if not final and not previous_open and stripped.count(" ") < 16 and len(stripped.split()) <= 16:
            following = lines[index + 1].lstrip() if index + 1 < len(lines) else ""
            if not following[:1].islower():
                continue
        kept.append(stripped)
        previous_open = not final
    return "\n".join(kept)


_FURNITURE_FIRST = frozenset("©(cC")
_FINAL = frozenset('.!?…:;,"”’')
_CLOSERS = "\"'”’»)]"


def reference_words(text: str) -> list[str]:
    """Case-folded letter/digit runs of ``text``; ``%`` is the word "percent" (as ``dedup.text.tokenize``)."""
    return ["percent" if word == "%" else word.casefold() for word in _TOKEN.findall(text)]


def fmix64(value: int) -> int:
    """MurmurHash3's 64-bit finaliser: a bijection that mixes every input bit into every output bit."""
    value ^= value >> 33
    value = (value * 0xFF51AFD7ED558CCD) & _MASK64
    value ^= value >> 33
    value = (value * 0xC4CEB9FE1A85EC53) & _MASK64
    value ^= value >> 33
    return value


def reference_word_hash(word: str) -> int:
    """fmix64 of the polynomial Σ code(c_j)·P^j mod 2⁶⁴ over the word's code points."""
    return fmix64(sum(ord(char) * pow(_WORD_PRIME, j, 1 << 64) for j, char in enumerate(word)) & _MASK64)


def reference_shingles(words: Sequence[str], size: int) -> list[int]:
    """64-bit hashes of the word ``size``-grams (one shingle of all words when there are fewer)."""
    hashes = [reference_word_hash(word) for word in words]
    if not hashes:
        return []
    grams = [hashes[k : k + size] for k in range(len(hashes) - size + 1)] or [hashes]
    result = []
    for gram in grams:
        value = 0
        for word_hash in gram:
            value = (value * _SHINGLE_MULTIPLIER + word_hash) & _MASK64
        result.append(fmix64(value))
    return result


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``kperm`` scheme's multipliers (odd) and offsets, from ``seed``."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64)
    return a, b


def reference_signature(shingles: Iterable[int], num_perm: int, scheme: str = "oph", seed: int = 1) -> list[int]:
    """The signature of one article's shingle hashes, one loop at a time (the definition).

    ``oph``: bin = top log2(num_perm) bits, value = low 32 bits, minimum per bin; an empty bin
    takes the value of the next non-empty bin to its right (circularly) plus
    ``distance × 0x9E3779B1`` mod 2³². ``kperm``: for each (a, b), the minimum over shingles
    of ``((a·(x >> 32) + b) mod 2⁶⁴) >> 32``. No shingles: every entry is 0xFFFFFFFF.
    """
    values = list(shingles)
    empty = 0xFFFFFFFF
    if not values:
        return [empty] * num_perm
    if scheme == "kperm":
        a, b = permutations(num_perm, seed)
        return [
            min((((int(ai) * (x >> 32) + int(bi)) & _MASK64) >> 32) for x in values)
            for ai, bi in zip(a, b, strict=True)
        ]
    shift = 64 - (num_perm.bit_length() - 1)
    bins: list[int | None] = [None] * num_perm
    for x in values:
        slot = x >> shift if num_perm > 1 else 0
        low = x & 0xFFFFFFFF
        if bins[slot] is None or low < bins[slot]:
            bins[slot] = low
    result = []
    for slot in range(num_perm):
        distance = 0
        while bins[(slot + distance) % num_perm] is None:
            distance += 1
        donor = bins[(slot + distance) % num_perm]
        assert donor is not None
        result.append((donor + distance * _BORROW_OFFSET) & 0xFFFFFFFF)
    return result


# --- vectorised fast path -------------------------------------------------------------------------------------


def _fold_table() -> np.ndarray:
    """Per BMP code point: its case fold (when that is one code point) if it is a word character, else 0."""
    table = np.zeros(0x10000, dtype=np.uint16)  # 128 KB: the per-character gather stays in cache
    for code in range(0x10000):
        char = chr(code)
        if char.isalnum():
            folded = char.casefold()
            table[code] = ord(folded) if len(folded) == 1 and ord(folded) <= 0xFFFF else code
    return table


_FOLD: np.ndarray | None = None
_POWERS: tuple[np.ndarray, np.ndarray] = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))
_PERCENT_HASH = np.uint64(reference_word_hash("percent"))


def _fmix64(values: np.ndarray) -> np.ndarray:
    values = values ^ (values >> np.uint64(33))
    values *= np.uint64(0xFF51AFD7ED558CCD)
    values ^= values >> np.uint64(33)
    values *= np.uint64(0xC4CEB9FE1A85EC53)
    values ^= values >> np.uint64(33)
    return values


def _powers(base: int, count: int) -> np.ndarray:
    """base^0 … base^(count-1) mod 2⁶⁴, by doubling (numpy's uint64 products wrap)."""
    result = np.ones(max(count, 1), dtype=np.uint64)
    filled = 1
    step = base
    with np.errstate(over="ignore"):
        while filled < count:
            take = min(filled, count - filled)
            result[filled : filled + take] = result[:take] * np.uint64(step)
            filled += take
            step = (step * step) & _MASK64 if take == filled - take else step
    return result[:count]


def _cached_powers(count: int) -> tuple[np.ndarray, np.ndarray]:
    """P^j and P^-j mod 2⁶⁴ for j < count, grown as needed and kept for the next batch."""
    global _POWERS
    if len(_POWERS[0]) < count:
        size = max(count, 2 * len(_POWERS[0]))
        _POWERS = (_powers(_WORD_PRIME, size), _powers(pow(_WORD_PRIME, -1, 1 << 64), size))
    return _POWERS


def batch_shingles(texts: Sequence[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of every text of a batch, concatenated, and each text's ``[start, end)`` offsets.

    Equal to ``reference_shingles(reference_words(text), size)`` for texts whose case folds are
    one code point per character and that stay in the Basic Multilingual Plane (other code
    points count as separators; multi-character folds such as ß keep their character).
    """
    global _FOLD
    if _FOLD is None:
        _FOLD = _fold_table()
    joined = "\x00".join(texts) + "\x00"
    codes = code_points(joined)
    # one byte a code point: every index in range, numpy's plain mode is the fastest; four: code points past the
    # BMP read the last entry, a separator
    folded = np.take(_FOLD[:256], codes) if codes.dtype == np.uint8 else np.take(_FOLD, codes, mode="clip")
    count = len(codes)
    classes = word_flags(codes)
    np.not_equal(folded, 0, out=classes[1:-1].view(bool))
    percent = "%" in joined
    starts, ends = token_bounds(classes, codes, percent)
    powers, inverse = _cached_powers(count + 1)
    with np.errstate(over="ignore"):
        prefix = np.empty(count + 1, dtype=np.uint64)
        prefix[0] = 0
        np.multiply(folded, powers[:count], out=prefix[1:])
        np.cumsum(prefix[1:], out=prefix[1:])
        word_hashes = _fmix64((prefix[ends] - prefix[starts]) * inverse[starts])
    if percent:
        word_hashes[classes[starts + 1] >= 2] = _PERCENT_HASH
    # each text ends at its separator: words are counted per text by where they start (a NUL inside a
    # text separates words there like any other non-word character)
    text_ends = np.cumsum([len(text) + 1 for text in texts])
    first_word = np.concatenate(([0], np.searchsorted(starts, text_ends)))
    return _shingles_from_words(word_hashes, first_word, size)


def _shingles_from_words(word_hashes: np.ndarray, first_word: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    n_words = len(word_hashes)
    with np.errstate(over="ignore"):
        combined = word_hashes.copy()
        multiplier = np.uint64(_SHINGLE_MULTIPLIER)
        for offset in range(1, min(size, n_words)):
            combined[: n_words - offset] = combined[: n_words - offset] * multiplier + word_hashes[offset:]
        counts = np.diff(first_word)
        full = np.maximum(counts - size + 1, 0)
        # the first ``full[k]`` words of text k start a whole shingle: its last ``size - 1`` words do not
        whole = np.ones(n_words, dtype=bool)
        ends = first_word[1:]
        for offset in range(1, size):
            tail = ends - offset
            whole[tail[tail >= first_word[:-1]]] = False
        shingles = combined[whole]
        per_text = full.copy()
        short = np.flatnonzero((counts > 0) & (counts < size))
        if len(short):  # texts with fewer words than a shingle: one shingle of all their words
            extra = []
            for index in short:
                value = 0
                for word_hash in word_hashes[first_word[index] : first_word[index + 1]]:
                    value = (value * _SHINGLE_MULTIPLIER + int(word_hash)) & _MASK64
                extra.append(value)
            per_text[short] = 1
            offsets = np.concatenate(([0], np.cumsum(full)))
            shingles = np.insert(shingles, offsets[short], np.array(extra, dtype=np.uint64))
        offsets = np.concatenate(([0], np.cumsum(per_text)))
        return _fmix64(shingles), offsets


CHUNK_CHARACTERS = 1 << 17  # a batch is hashed in pieces of about this many characters: their arrays stay in cache


def batch_signatures(texts: Sequence[str], settings: CopiesSettings) -> np.ndarray:
    """Signatures (uint32, one row per text) of the prose of every text in the batch.

    The texts are hashed in consecutive pieces of about ``CHUNK_CHARACTERS`` (the same values: each
    text's signature depends on it alone): the per-character arrays of a 2,000-article batch are tens of
    megabytes, and their gathers ran ~2x slower out of cache than a piece's do.
    """
    prose = [prose_text(text) for text in texts]
    pieces = [
        signatures_from_shingles(
            *batch_shingles(prose[first:last], settings.shingle_size), settings.num_perm, settings.scheme, settings.seed
        )
        for first, last in _groups(np.array([len(text) + 1 for text in prose]), CHUNK_CHARACTERS)
    ]
    return np.concatenate(pieces) if pieces else np.full((0, settings.num_perm), _EMPTY, dtype=np.uint32)


def signatures_from_shingles(
    shingles: np.ndarray, offsets: np.ndarray, num_perm: int, scheme: str = "oph", seed: int = 1
) -> np.ndarray:
    """The vectorised ``reference_signature`` for many texts: text k owns ``shingles[offsets[k]:offsets[k+1]]``."""
    count = len(offsets) - 1
    result = np.full((count, num_perm), _EMPTY, dtype=np.uint32)
    lengths = np.diff(offsets)
    owners = np.repeat(np.arange(count), lengths)
    if not len(shingles):
        return result
    if scheme == "kperm":
        a, b = permutations(num_perm, seed)
        high = shingles >> np.uint64(32)
        # process in text groups so the (shingles × num_perm) matrix stays small
        group_starts = _groups(lengths, max(1, (1 << 21) // num_perm))
        with np.errstate(over="ignore"):
            for first, last in group_starts:
                low, high_end = offsets[first], offsets[last]
                if high_end == low:
                    continue
                values = np.multiply.outer(a, high[low:high_end])
                values += b[:, None]
                values >>= np.uint64(32)
                texts = np.flatnonzero(lengths[first:last]) + first
                mins = np.minimum.reduceat(values, offsets[texts] - low, axis=1)
                result[texts] = mins.T.astype(np.uint32)
        return result
    bits = num_perm.bit_length() - 1
    slots = (shingles >> np.uint64(64 - bits)).astype(np.int64) if bits else np.zeros(len(shingles), np.int64)
    low32 = (shingles & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    keys = owners * num_perm + slots
    np.minimum.at(result.reshape(-1), keys, low32)
    filled = np.zeros(result.shape, dtype=bool)
    filled.reshape(-1)[keys] = True
    return _densify(result, filled, lengths > 0)


def _groups(lengths: np.ndarray, budget: int) -> Iterator[tuple[int, int]]:
    """Consecutive text ranges whose shingle counts add up to about ``budget``."""
    first = 0
    total = 0
    for index, length in enumerate(lengths):
        total += int(length)
        if total >= budget:
            yield first, index + 1
            first, total = index + 1, 0
    if first < len(lengths):
        yield first, len(lengths)


def _densify(signatures: np.ndarray, filled_bins: np.ndarray, has_shingles: np.ndarray) -> np.ndarray:
    """Fill empty bins from the next non-empty bin to the right (circular), plus an offset per bin of distance."""
    rows = np.flatnonzero(~filled_bins.all(axis=1) & has_shingles)
    if not len(rows):
        return signatures
    num_perm = signatures.shape[1]
    part = signatures[rows]
    filled = filled_bins[rows]
    index = np.where(np.concatenate((filled, filled), axis=1), np.arange(2 * num_perm), 2 * num_perm)
    nearest = np.minimum.accumulate(index[:, ::-1], axis=1)[:, ::-1][:, :num_perm]
    distance = (nearest - np.arange(num_perm)).astype(np.uint32)
    donors = np.take_along_axis(part, nearest % num_perm, axis=1)
    with np.errstate(over="ignore"):
        signatures[rows] = np.where(filled, part, donors + distance * np.uint32(_BORROW_OFFSET))
    return signatures


# --- input, streamed in batches ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Batch:
    """What a worker returns for one batch: ids, dates, text lengths, signatures, skips."""

    ids: list[str]
    published: list[str | None]
    lengths: np.ndarray
    signatures: np.ndarray
    skipped: list[Skipped]


def _jsonl_ranges(path: Path, chunk_bytes: int) -> list[tuple[int, int]]:
    size = path.stat().st_size
    ranges = []
    begin = 0
    with open(path, "rb") as handle:
        while begin < size:
            handle.seek(min(begin + chunk_bytes, size))
            handle.readline()
            end = min(handle.tell(), size) if begin + chunk_bytes < size else size
            ranges.append((begin, end))
            begin = end
    return ranges


def _read_jsonl_range(task: tuple[str, int, int, CopiesSettings]) -> Batch:
    """Worker: parse the JSONL lines in one byte range of a file and sign them."""
    from dedup.read.jsonrecords import normalise_date, record_to_article
    from dedup.read.text import SkipInput

    path, begin, end, settings = task
    with open(path, "rb") as handle:
        handle.seek(begin)
        data = handle.read(end - begin)
    articles: list[Article] = []
    skipped: list[Skipped] = []
    for number, line in enumerate(data.splitlines()):
        if not line.strip():
            continue
        where = f"{path}@{begin}+{number}"
        try:
            value = orjson.loads(line)  # a 2 KB record ~4x faster than json
            if not isinstance(value, dict):
                raise SkipInput("JSON line is not an object")
            text, key, published = value.get("text"), value.get("id"), value.get("published")
            if isinstance(text, str) and text.strip() and isinstance(key, str) and key:
                # the common shape, without the general mapping's copies (same result for these fields)
                published = (
                    normalise_date(published.strip()) if isinstance(published, str) and published.strip() else None
                )
                articles.append(Article(key, text, published=published))
                continue
            articles.append(record_to_article(value, default_id=where, path=path))
        except (ValueError, UnicodeDecodeError) as error:
            skipped.append(Skipped(where, f"invalid JSON: {error}"))
        except SkipInput as skip:
            skipped.append(Skipped(where, skip.reason))
    return _sign(articles, settings, skipped)


def _sign_articles(task: tuple[list[Article], CopiesSettings]) -> Batch:
    articles, settings = task
    return _sign(articles, settings, [])


def _sign(articles: list[Article], settings: CopiesSettings, skipped: list[Skipped]) -> Batch:
    texts = [article.text for article in articles]
    return Batch(
        ids=[article.id for article in articles],
        published=[article.published for article in articles],
        lengths=np.array([len(text) for text in texts], dtype=np.int64),
        signatures=batch_signatures(texts, settings),
        skipped=skipped,
    )


def _article_batches(articles: Iterable[Article], size: int) -> Iterator[list[Article]]:
    batch: list[Article] = []
    for article in articles:
        batch.append(article)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _map(function: Callable[[Any], Batch], tasks: Iterable[Any], workers: int) -> Iterator[Batch]:
    if workers <= 1:
        yield from map(function, tasks)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(function, tasks)


def sign_path(path: str | Path, settings: CopiesSettings, progress: Progress | None = None) -> Iterator[Batch]:
    """Signature batches for a JSONL file (streamed in byte ranges, parsed in the workers) or any other input.

    Folders, other files and ``-`` (stdin) go through ``dedup.read``; their articles are
    signed in batches by the workers.
    """
    if str(path) != "-" and Path(path).is_file() and str(path).endswith(".jsonl"):
        file_path = Path(path)
        ranges = _jsonl_ranges(file_path, chunk_bytes=max(1 << 16, settings.batch_size * 600))
        tick = progress("read + sign, MB", file_path.stat().st_size) if progress else None
        tasks = [(str(file_path), begin, end, settings) for begin, end in ranges]
        for (begin, end), batch in zip(ranges, _map(_read_jsonl_range, tasks, settings.workers), strict=True):
            if tick:
                tick(end - begin)
            yield batch
        return
    import sys

    from dedup.read import read_path, read_stream

    read = read_stream(sys.stdin.buffer, "-") if str(path) == "-" else read_path(path)
    yield from sign_articles(read.articles, settings, progress, total=len(read.articles), skipped=read.skipped)


def sign_articles(
    articles: Iterable[Article | dict[str, Any]],
    settings: CopiesSettings,
    progress: Progress | None = None,
    total: int | None = None,
    skipped: Sequence[Skipped] = (),
) -> Iterator[Batch]:
    """Signature batches for articles given in memory (or any iterable: it is consumed batch by batch)."""
    from dedup.pipeline import _as_article

    tick = progress("sign", total or 0) if progress else None  # counts articles
    first = True
    tasks = (
        (batch, settings) for batch in _article_batches((_as_article(item) for item in articles), settings.batch_size)
    )
    for batch in _map(_sign_articles, tasks, settings.workers):
        if first and skipped:
            batch.skipped = list(skipped) + batch.skipped
        first = False
        if tick:
            tick(len(batch.ids))
        yield batch
    if first and skipped:
        yield Batch([], [], np.zeros(0, np.int64), np.zeros((0, settings.num_perm), np.uint32), list(skipped))


# --- candidates, verification, clusters -------------------------------------------------------------------------


def band_pairs(signatures: np.ndarray, bands: int, max_bucket: int = 64) -> np.ndarray:
    """Candidate pairs (i < j, int64 rows) that agree on every row of at least one band.

    Within a bucket every pair is a candidate, up to ``max_bucket`` neighbours in id order: a
    bucket larger than that (one stock text repeated very many times) still links up as a chain.
    A band's key is a 64-bit hash of its rows whose low bits are replaced by the row number, so
    one plain sort of integers orders each bucket by id (no argsort); two bands that differ may
    then share a bucket with a chance of about 2^-(64 - log2 rows) — a few extra candidates in a
    million-article run, which :func:`verify` rejects like any other (see
    :func:`reference_band_pairs`).
    """
    count, num_perm = signatures.shape
    rows = num_perm // bands
    index_bits = max(1, (count - 1).bit_length())
    row_mask = np.uint64((1 << index_bits) - 1)
    numbers = np.arange(count, dtype=np.uint64)
    found: list[np.ndarray] = []
    with np.errstate(over="ignore"):
        for band in range(bands):
            if band % _KEY_BANDS == 0:
                keys = band_keys(signatures, band, min(bands, band + _KEY_BANDS), rows)
            packed = (keys[band % _KEY_BANDS] & ~row_mask) | numbers
            packed.sort()
            bucket = packed >> np.uint64(index_bits)
            same = bucket[1:] == bucket[:-1]
            if not same.any():
                continue
            run = np.concatenate(([0], np.cumsum(~same)))
            # keep only members of runs longer than one, then pair each with its next d neighbours in the run
            in_run = np.concatenate((same, [False])) | np.concatenate(([False], same))
            members, run = (packed[in_run] & row_mask).astype(np.int64), run[in_run]
            for distance in range(1, min(max_bucket, len(members))):
                match = run[:-distance] == run[distance:]
                if not match.any():
                    break
                found.append(np.stack((members[:-distance][match], members[distance:][match]), axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)  # within a run members ascend, so each row is already (i < j)
    codes = np.unique(pairs[:, 0] * count + pairs[:, 1])  # one integer a pair: a 1-D unique, not a row unique
    return np.stack((codes // count, codes % count), axis=1)


_KEY_BANDS = 8  # band keys made at a time: 8 bands of a million articles are 64 MB
_KEY_ROWS = 8192  # articles per block while making them: a block's signatures (4 MB at 128 values) stay in cache


def band_keys(signatures: np.ndarray, first: int, last: int, rows: int) -> np.ndarray:
    """The 64-bit keys of bands ``first``..``last - 1`` of every article, one row of keys a band.

    A key is fmix64 of the polynomial of the band's values (+1 each). Made block by block of articles:
    reading one band's columns down a million rows touched a cache line per value (2.0 s against
    0.8 s for the 32 bands of a million articles).
    """
    count = len(signatures)
    keys = np.empty((last - first, count), dtype=np.uint64)
    multiplier = np.uint64(_SHINGLE_MULTIPLIER)
    with np.errstate(over="ignore"):
        for begin in range(0, count, _KEY_ROWS):
            block = signatures[begin : begin + _KEY_ROWS, first * rows : last * rows]
            values = block.astype(np.uint64).reshape(len(block), last - first, rows)
            key = np.zeros((len(block), last - first), dtype=np.uint64)
            for column in range(rows):
                key *= multiplier
                key += values[:, :, column] + np.uint64(1)
            keys[:, begin : begin + _KEY_ROWS] = _fmix64(key).T
    return keys


def reference_band_pairs(signatures: np.ndarray, bands: int, max_bucket: int = 64) -> np.ndarray:
    """Readable reference for :func:`band_pairs`: a dict of buckets per band, keyed by the rows' values.

    Returns exactly the pairs whose band rows are equal; the fast path may add a pair whose band
    keys collide (and ``verify`` rejects it).
    """
    count, num_perm = signatures.shape
    rows = num_perm // bands
    found: set[tuple[int, int]] = set()
    for band in range(bands):
        buckets: dict[bytes, list[int]] = {}
        for number in range(count):
            buckets.setdefault(signatures[number, band * rows : (band + 1) * rows].tobytes(), []).append(number)
        for members in buckets.values():
            for position, first in enumerate(members):
                for second in members[position + 1 : position + max_bucket]:
                    found.add((first, second))
    return np.array(sorted(found), dtype=np.int64).reshape(-1, 2)


def verify(signatures: np.ndarray, pairs: np.ndarray, threshold: float, chunk: int = 200_000) -> np.ndarray:
    """The estimated Jaccard (share of agreeing signature entries) of each candidate pair."""
    scores = np.empty(len(pairs), dtype=np.float32)
    for begin in range(0, len(pairs), chunk):
        part = pairs[begin : begin + chunk]
        scores[begin : begin + chunk] = (signatures[part[:, 0]] == signatures[part[:, 1]]).mean(axis=1)
    return scores


@dataclass(slots=True)
class CopiesIndex:
    """Everything the copies-only run keeps per article: id, date, length, signature."""

    ids: list[str]
    published: list[str | None]
    lengths: np.ndarray
    signatures: np.ndarray
    skipped: list[Skipped]

    @classmethod
    def collect(cls, batches: Iterable[Batch], num_perm: int) -> CopiesIndex:
        ids: list[str] = []
        published: list[str | None] = []
        lengths: list[np.ndarray] = []
        signatures: list[np.ndarray] = []
        skipped: list[Skipped] = []
        for batch in batches:
            ids.extend(batch.ids)
            published.extend(batch.published)
            lengths.append(batch.lengths)
            signatures.append(batch.signatures)
            skipped.extend(batch.skipped)
        return cls(
            ids,
            published,
            np.concatenate(lengths) if lengths else np.zeros(0, np.int64),
            np.concatenate(signatures) if signatures else np.zeros((0, num_perm), np.uint32),
            skipped,
        )


def find_copies(index: CopiesIndex, settings: CopiesSettings) -> Result:
    """Clusters of near-duplicate articles (relation ``duplicate``) from their signatures."""
    keep = np.ones(len(index.ids), dtype=bool)
    skipped = list(index.skipped)
    if len(set(index.ids)) < len(index.ids):  # the first of each id stays, later ones are skipped
        seen: set[str] = set()
        for position, article_id in enumerate(index.ids):
            if article_id in seen:
                keep[position] = False
                skipped.append(Skipped(article_id, f"duplicate id {article_id!r}"))
            seen.add(article_id)
    if not index.ids:
        raise NoArticlesError("no readable article to cluster")
    rows = np.flatnonzero(keep & (index.signatures != _EMPTY).any(axis=1))
    signatures = index.signatures[rows]
    pairs = band_pairs(signatures, settings.bands)
    scores = verify(signatures, pairs, settings.threshold)
    accepted = pairs[scores >= settings.threshold]
    log.info("%d articles, %d candidate pairs, %d accepted", len(rows), len(pairs), len(accepted))
    count = len(rows)
    graph = sparse.coo_matrix(
        (np.ones(len(accepted), dtype=np.int8), (accepted[:, 0], accepted[:, 1])), shape=(count, count)
    )
    _, labels = connected_components(graph, directed=False)
    grouped = np.flatnonzero(np.bincount(labels)[labels] > 1)  # rows in a component of two or more
    grouped = grouped[np.argsort(labels[grouped], kind="stable")]  # by component, rows ascending within one
    bounds = np.flatnonzero(np.diff(labels[grouped])) + 1
    clusters_members: list[list[int]] = [rows[part].tolist() for part in np.split(grouped, bounds) if len(part)]
    in_cluster = np.zeros(len(index.ids), dtype=bool)
    in_cluster[rows[grouped]] = True
    clusters: list[Cluster] = []
    ordered_groups = sorted(([index.ids[p] for p in members], members) for members in clusters_members)
    for number, (_, members) in enumerate(sorted(ordered_groups, key=lambda item: min(item[0])), start=1):
        origin = min(members, key=lambda p: _origin_key(index, p))
        record = [Member(index.ids[origin], "origin")]
        for position in sorted(members, key=lambda p: index.ids[p]):
            if position != origin:
                record.append(Member(index.ids[position], "derived", [index.ids[origin]], None, "whole"))
        evidence = [{"kind": "origin-choice", "why": _origin_why(index, origin, members)}]
        clusters.append(Cluster(f"c{number:04d}", "duplicate", index.ids[origin], evidence, [], record))
    singletons = sorted(index.ids[p] for p in np.flatnonzero(keep & ~in_cluster).tolist())
    parameters = {"mode": "copies-only", **settings.describe(), "candidates": len(pairs), "accepted": len(accepted)}
    return Result(clusters=clusters, passages=[], singletons=singletons, skipped=skipped, parameters=parameters)


def _origin_key(index: CopiesIndex, position: int) -> tuple[int, str, int, str]:
    published = index.published[position]
    return (0 if published else 1, published or "", -int(index.lengths[position]), index.ids[position])


def _origin_why(index: CopiesIndex, origin: int, members: list[int]) -> str:
    dates = {index.published[p] for p in members if index.published[p]}
    if index.published[origin] and len(dates) > 1:
        return "earliest published"
    if len({int(index.lengths[p]) for p in members}) > 1:
        return "longest text"
    return "smallest id"


def cluster_copies(
    source: str | Path | Iterable[Article | dict[str, Any]],
    settings: CopiesSettings | None = None,
    progress: Progress | None = None,
) -> Result:
    """Copies-only clustering of a path (JSONL streamed; folders, files, ``-``) or of articles in memory."""
    settings = settings or CopiesSettings()
    settings.check()
    if isinstance(source, (str, Path)):
        if str(source) != "-" and not Path(source).exists():
            raise InputError(f"input path does not exist: {source}")
        batches = sign_path(source, settings, progress)
    else:
        batches = sign_articles(source, settings, progress)
    return find_copies(CopiesIndex.collect(batches, settings.num_perm), settings)


def default_workers() -> int:
    """Two workers on this kind of machine; never more than the cores we may use."""
    try:
        return max(1, min(2, len(os.sched_getaffinity(0))))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, min(2, os.cpu_count() or 1))
