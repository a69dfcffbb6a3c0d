"""The run's texts held compressed (``dedup.compressed``) give back what the readable reference holds."""

from __future__ import annotations

import json
import pickle
import random
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import compressed, pipeline
from dedup.compressed import CompressedTexts, RawTexts
from dedup.model import Article
from dedup.write.jsondoc import result_to_dict

# texts as the store encodes them (UTF-8 with lone surrogates passed), short and long, often alike
_texts = st.lists(
    st.one_of(
        st.text(max_size=300).map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.binary(max_size=200),
        st.sampled_from(
            [b"", b"The Bank of England held rates. " * 40, "caf\u00e9 \ud800".encode("utf-8", "surrogatepass")]
        ),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_texts, st.sampled_from([0, 1, 100, 2000, 1 << 20]), st.data())
def test_compressed_texts_give_back_the_reference(texts, train_bytes, data):
    held = CompressedTexts(texts, train_bytes=train_bytes)
    reference = RawTexts(texts)
    assert len(held) == len(reference) == len(texts)
    assert list(held) == list(reference) == texts
    if data.draw(st.booleans()):
        held.finish()  # the compressor let go: more texts still come in the same way
    more = data.draw(_texts)
    for text in more:
        held.append(text)
        reference.append(text)
    assert list(held) == list(reference) == texts + more
    order = data.draw(st.permutations(range(len(held))))
    assert list(held.reordered(order)) == list(reference.reordered(order)) == [(texts + more)[k] for k in order]
    assert list(pickle.loads(pickle.dumps(held))) == texts + more
    for index in (-1, len(held)):
        with pytest.raises(IndexError):
            held[index]
    held.spill()  # to a file (compressed ones only): the same texts, more taken in after, reordered, pickled
    assert held.nbytes <= reference.nbytes + 8 * len(held) + 200_000
    later = data.draw(_texts)
    for text in later:
        held.append(text)
    whole = texts + more + later
    assert list(held) == whole
    assert list(held.reordered(order)) == [whole[k] for k in order]
    assert list(pickle.loads(pickle.dumps(held))) == whole


_WORDS = [
    "the",
    "bank",
    "of",
    "england",
    "said",
    "on",
    "monday",
    "that",
    "rates",
    "would",
    "stay",
    "at",
    "5.25",
    "%",
    "while",
    "inflation",
    "fell",
]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32), _texts, st.data())
def test_texts_compressed_with_a_trained_dictionary_give_back_the_reference(seed, odd, data):
    # enough text for the trainer (MIN_TRAIN_SAMPLES texts, MIN_TRAIN_BYTES): made of words, with odd texts among them
    chooser = random.Random(seed)
    texts = [" ".join(chooser.choices(_WORDS, k=chooser.randint(300, 600))).encode() for _ in range(130)]
    for text in odd:
        texts.insert(chooser.randrange(len(texts) + 1), text)
    held = CompressedTexts(texts, train_bytes=compressed.MIN_TRAIN_BYTES)
    assert held.dictionary is not None and held.nbytes < sum(map(len, texts)) / 2
    assert list(held) == list(RawTexts(texts)) == texts
    order = data.draw(st.permutations(range(len(held))))
    assert list(held.reordered(order)) == [texts[k] for k in order]
    assert list(pickle.loads(pickle.dumps(held))) == texts
    compressed_bytes = len(held.data)
    held.spill()  # in a file: none of the compressed texts held, each read back the same
    assert len(held.data) == 0 and held.nbytes <= held.dictionary.as_bytes().__len__() + 8 * (len(texts) + 1)
    assert compressed_bytes > 0 and list(held) == texts
    assert list(held.reordered(order)) == [texts[k] for k in order]
    assert list(pickle.loads(pickle.dumps(held))) == texts


@pytest.fixture(scope="module")
def news(news_articles: list[Article]) -> list[Article]:
    """The seed articles and, where the generator's data is present, a generated corpus of 240."""
    return news_articles


def test_news_texts_come_back_the_same_and_smaller(news):
    texts = [article.text.encode("utf-8", "surrogatepass") for article in news]
    raw = sum(map(len, texts))
    held = CompressedTexts(texts, train_bytes=compressed.MIN_TRAIN_BYTES)  # trained on the first 256 KB
    held.finish()
    assert list(held) == texts
    if raw >= 1.2 * compressed.MIN_TRAIN_BYTES:  # the generated corpus is there: ~2.5x (docs/scale.md, stop 22)
        assert held.dictionary is not None
        assert held.nbytes < 0.6 * raw
    small = CompressedTexts(texts[:3])  # under TRAIN_BYTES: held as they are
    assert not small.compressing and list(small) == texts[:3]


def test_threads_read_the_texts_at_once(news):
    texts = [article.text.encode("utf-8", "surrogatepass") for article in news] * 3
    held = CompressedTexts(texts, train_bytes=compressed.MIN_TRAIN_BYTES)
    found: list[bool] = []

    def read() -> None:
        found.append(all(held[k] == texts[k] for k in range(len(texts))))

    for _ in range(2):  # held, then in a file
        threads = [threading.Thread(target=read) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        held.spill()
    assert found == [True] * 8


def test_the_store_sorts_and_gives_back_the_articles(news, monkeypatch):
    monkeypatch.setattr(compressed, "TRAIN_BYTES", 5_000)
    store = pipeline.ArticleStore()
    for article in reversed(news):
        assert store.add(article)
    assert not store.add(news[0])  # a repeated id: not taken
    store.sort()
    assert store.texts.compressing and not store.texts.data  # in a file
    expected = sorted(news, key=lambda article: article.id)
    assert store.ids == [article.id for article in expected]
    for index, article in enumerate(expected):
        assert store.article(index) == Article(
            article.id, article.text, outlet=article.outlet, published=article.published
        )


def test_a_run_with_its_texts_compressed_gives_the_same_output(news, monkeypatch, tmp_path: Path):
    raw = sum(len(article.text.encode("utf-8", "surrogatepass")) for article in news)

    def document(train_bytes: int) -> str:
        monkeypatch.setattr(compressed, "TRAIN_BYTES", train_bytes)
        result = pipeline.cluster(news, workers=1, keep_pairs=False)
        texts = result.texts.texts  # type: ignore[attr-defined]
        assert texts.compressing == (train_bytes <= raw)
        assert (texts.dictionary is not None) == (train_bytes == compressed.MIN_TRAIN_BYTES <= raw)
        return json.dumps(result_to_dict(result, result.texts), sort_keys=True)

    reference = document(1 << 40)  # held as they are
    assert document(1_000) == reference  # compressed without a dictionary (too few to train on)
    if raw >= compressed.MIN_TRAIN_BYTES:
        assert document(compressed.MIN_TRAIN_BYTES) == reference  # with one
