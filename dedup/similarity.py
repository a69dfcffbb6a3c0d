"""TF-IDF vectors: character n-grams per sentence (rewrite evidence), word stems per article.

Character n-grams (3-5, within word boundaries) over the normalised words of a sentence
tolerate inflection, British/American spelling and hyphenation ("co-operation",
"cooperation"), which is what reworded wire copy mostly changes. Features are hashed
(``HashingVectorizer``) so vectors of new articles need no refit; IDF is learnt on the
corpus at hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize

from dedup.clean import CleanArticle

_SENTENCE_HASHER = HashingVectorizer(
    analyzer="char_wb", ngram_range=(3, 5), n_features=2**20, alternate_sign=False, norm=None, lowercase=False
)
_ARTICLE_HASHER = HashingVectorizer(
    analyzer=str.split, n_features=2**20, alternate_sign=False, norm=None, lowercase=False
)


def sentence_strings(article: CleanArticle) -> list[str]:
    """Each evidence sentence as its normalised words joined by spaces."""
    words = article.tokens.words
    return [" ".join(words[s.first : s.last]) for s in article.sentences]


def sentence_counts(articles: Sequence[CleanArticle]) -> sparse.csr_matrix:
    """Hashed character n-gram counts of every evidence sentence, in order (rows are independent,
    so the counts of a batch split in parts, stacked, equal the counts of the whole)."""
    strings = [s for article in articles for s in sentence_strings(article)]
    if not strings:
        return sparse.csr_matrix((0, 2**20))
    return _SENTENCE_HASHER.transform(strings).tocsr()


def sentence_vectors(
    articles: Sequence[CleanArticle], counts: sparse.csr_matrix | None = None
) -> list[sparse.csr_matrix]:
    """L2-normalised TF-IDF rows of every evidence sentence, one matrix per article.

    ``counts``: :func:`sentence_counts` of ``articles`` when already computed.
    """
    counts = sentence_counts(articles) if counts is None else counts
    if counts.shape[0] == 0:
        return [sparse.csr_matrix((0, 2**20)) for _ in articles]
    weighted = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    weighted = normalize(weighted, copy=False)
    bounds = np.cumsum([0] + [len(article.sentences) for article in articles])
    return [weighted[bounds[k] : bounds[k + 1]] for k in range(len(articles))]


def article_vectors(articles: Sequence[CleanArticle]) -> sparse.csr_matrix:
    """L2-normalised TF-IDF rows of the content stems of every article's evidence text."""
    documents = [
        " ".join(article.stems[i] for i in article.evidence_tokens() if article.stems[i]) for article in articles
    ]
    counts = _ARTICLE_HASHER.transform(documents)
    weighted = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    return normalize(weighted, copy=False).tocsr()
