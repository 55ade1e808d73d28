"""The lexical rankers' vectors: character n-gram TF-IDF and Okapi BM25, as sparse matrices so that scoring a
question is one sparse product."""

from __future__ import annotations

from itertools import chain

import numpy as np
from scipy import sparse


def char_wb(word: str, ngram_range: tuple[int, int]) -> list[str]:
    """The character n-grams of one word padded with spaces, as scikit-learn's analyzer="char_wb" makes them."""
    padded = f" {word} "
    low, high = ngram_range
    grams: list[str] = []
    for n in range(low, high + 1):
        if len(padded) < n:
            break
        grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


class Tfidf:
    """Sublinear TF, smoothed IDF, L2-normalised rows: scikit-learn's TfidfTransformer(sublinear_tf=True)
    without importing scikit-learn (1.4 s and 90 MB at start-up)."""

    def fit_transform(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        n = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)
        self.idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        return self.transform(counts)

    def transform(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        matrix = counts.astype(np.float64).tocsr(copy=True)
        matrix.data = (np.log(matrix.data) + 1.0) * self.idf[matrix.indices]
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        matrix.data /= np.repeat(norms, np.diff(matrix.indptr))
        return matrix


class CharTfidf:
    """TF-IDF over `char_wb` n-grams (2-5), the same features as sklearn's TfidfVectorizer(analyzer="char_wb").

    char_wb n-grams never cross a word boundary, so each distinct word is analysed once and a document's
    counts are (documents x words) @ (words x n-grams): the vectorizer's own loop over every n-gram of every
    document takes seconds at 2,000 entries.
    """

    def __init__(self, documents: list[list[str]], ngram_range: tuple[int, int]) -> None:
        self.ngram_range = ngram_range
        self.word_ids = {word: n for n, word in enumerate(dict.fromkeys(chain.from_iterable(documents)))}
        ids = self.word_ids
        cols = [ids[word] for words in documents for word in words]
        rows = np.repeat(np.arange(len(documents)), [len(words) for words in documents])
        doc_words = sparse.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(documents), len(ids))
        )
        self.ngram_ids: dict[str, int] = {}
        rows, cols = [], []
        for word, word_id in self.word_ids.items():
            for ngram in char_wb(word, ngram_range):
                rows.append(word_id)
                cols.append(self.ngram_ids.setdefault(ngram, len(self.ngram_ids)))
        self.word_ngrams = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(self.word_ids), len(self.ngram_ids)),
        )
        counts = doc_words @ self.word_ngrams
        counts.sum_duplicates()
        self.transformer = Tfidf()
        self.matrix = self.transformer.fit_transform(counts).astype(np.float32).tocsr()

    def vector(self, words: list[str]) -> sparse.csr_matrix:
        columns: list[int] = []
        for word in words:
            word_id = self.word_ids.get(word)
            if word_id is not None:
                row = self.word_ngrams.indices[
                    self.word_ngrams.indptr[word_id] : self.word_ngrams.indptr[word_id + 1]
                ]
                columns.extend(row.tolist())
            else:
                columns.extend(
                    self.ngram_ids[g] for g in char_wb(word, self.ngram_range) if g in self.ngram_ids
                )
        counts = sparse.csr_matrix(
            (np.ones(len(columns), dtype=np.float32), ([0] * len(columns), columns)),
            shape=(1, len(self.ngram_ids)),
        )
        counts.sum_duplicates()
        return self.transformer.transform(counts)


def bm25_matrix(
    corpus: list[list[str]], vocabulary: dict[str, int], k1: float, b: float, epsilon: float = 0.25
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Okapi BM25 weight of every (document, term), so that scoring a question is one sparse product.

    The same scores as rank_bm25.BM25Okapi (IDF with its epsilon floor for very common terms; a test checks
    they agree), computed with sparse arrays: rank_bm25 counts and scores document by document in Python,
    which takes most of the 2 s build budget at 2,000 entries. Returns the matrix and the IDF per column.
    """
    lengths = np.asarray([len(doc) for doc in corpus], dtype=np.float64)
    columns = np.asarray([vocabulary[term] for doc in corpus for term in doc], dtype=np.int64)
    rows = np.repeat(np.arange(len(corpus)), lengths.astype(np.int64))
    tf = sparse.csr_matrix(
        (np.ones(len(columns), dtype=np.float64), (rows, columns)), shape=(len(corpus), len(vocabulary))
    )
    tf.sum_duplicates()
    df = np.bincount(tf.indices, minlength=len(vocabulary)).astype(np.float64)
    present = df > 0
    idf = np.zeros(len(vocabulary))
    idf[present] = np.log(len(corpus) - df[present] + 0.5) - np.log(df[present] + 0.5)
    if present.any():
        floor = epsilon * idf[present].mean()
        idf[present & (idf < 0)] = floor
    average_length = lengths.mean() if len(corpus) and lengths.sum() else 1.0
    norm = k1 * (1 - b + b * lengths / average_length)
    doc_of_value = np.repeat(np.arange(len(corpus)), np.diff(tf.indptr))
    tf.data = idf[tf.indices] * tf.data * (k1 + 1) / (tf.data + norm[doc_of_value])
    return tf.astype(np.float32), idf
