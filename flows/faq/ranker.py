"""Hybrid FAQ ranker: character n-gram TF-IDF, BM25 over stemmed words and (when installed) multilingual
sentence embeddings, fused, with calibrated confidence."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import sparse

from flows.faq.content import FaqEntry
from flows.faq.decision import RankerSettings, Signals, confidence
from flows.faq.embedding import Progress, SentenceEncoder, shared_encoder
from flows.faq.fusion import gap, order, zscore
from flows.faq.normalize import (
    analyze,
    arabic_root,
    arabic_term,
    content_terms,
    detect_language,
    looks_like_question,
    opposite_sides,
    other_organisations,
)
from flows.faq.spelling import ARABIC_SPELLING, Speller
from flows.faq.vectors import CharTfidf, bm25_matrix
from flows.faq.verbatim import phrase_key, verbatim_phrasings

_CLAUSE = re.compile(r"[.,!?;:\n\u060c\u061b\u061f]+")

# confident: the answer; likely: «did you mean …» with the answer and yes/no; unsure: suggestions; none.
Status = Literal["confident", "likely", "unsure", "none"]
_PROCLITICS = frozenset("وبلفك")


@dataclass(frozen=True)
class FaqResult:
    """`entry` is set when confident or likely. When likely, `suggestions` holds the next candidates (for
    «no, my question is different»); when unsure, up to three candidates, best first."""

    status: Status
    entry: FaqEntry | None
    score: float
    suggestions: tuple[FaqEntry, ...]
    lang: str
    # When the question is closest to a topic the guides do not answer: that topic (`ask --json` names it).
    topic: FaqEntry | None = None


class _SemanticIndex:
    """Sentence embeddings of every entry's questions (both languages: the model is multilingual) and answers."""

    def __init__(
        self,
        entries: list[FaqEntry],
        encoder: SentenceEncoder,
        cache: Path | None,
        progress: Progress | None,
        with_answers: bool = True,
    ) -> None:
        self.encoder = encoder
        questions = [q for entry in entries for lang in ("ar", "en") for q in entry.questions[lang]]
        counts = [sum(len(entry.questions[lang]) for lang in ("ar", "en")) for entry in entries]
        # Answers are embedded only when their cosine counts (RankerSettings.answer_weight_embedding).
        answers = (
            {lang: [entry.answer[lang] for entry in entries] for lang in ("ar", "en")} if with_answers else {}
        )
        texts = questions + [text for lang_texts in answers.values() for text in lang_texts]
        if cache is not None:
            encoder.load_cache(cache)
        encoded = encoder.encoded
        self.questions = encoder.encode(texts, progress)[: len(questions)]
        self.starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
        self.answers = {lang: encoder.encode(lang_texts) for lang, lang_texts in answers.items()}
        if cache is not None and (encoder.encoded > encoded or not cache.exists()):
            encoder.save_cache(cache, texts)

    def scores(self, text: str, lang: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Per entry: the best cosine over its questions, and its answer's cosine (None: not embedded)."""
        vector = self.encoder.encode_query(text)
        by_question = self.questions @ vector
        answers = self.answers[lang] @ vector if self.answers else None
        return np.maximum.reduceat(by_question, self.starts), answers


class _LanguageIndex:
    """Both rankers over one language's questions; answers and whole entries count when their weight is set."""

    def __init__(self, entries: list[FaqEntry], lang: str, settings: RankerSettings) -> None:
        self.lang = lang
        self.settings = settings
        self.covered = [entry.covered for entry in entries]
        self.decoys = np.asarray([not entry.covered for entry in entries], dtype=bool)
        question_words: list[list[str]] = []
        question_terms: list[list[str]] = []
        owner: list[int] = []
        for index, entry in enumerate(entries):
            for question in entry.questions[lang]:
                words, terms = self._analyze(question)
                question_words.append(words)
                question_terms.append(terms)
                owner.append(index)
        self.owner = np.asarray(owner, dtype=np.int64)
        self.starts = np.flatnonzero(np.r_[True, self.owner[1:] != self.owner[:-1]])
        self.ends = np.r_[self.starts[1:], len(self.owner)]
        entry_words: list[list[str]] = [[] for _ in entries]
        entry_terms: list[list[str]] = [[] for _ in entries]
        for words, terms, index in zip(question_words, question_terms, owner, strict=True):
            entry_words[index].extend(words)
            entry_terms[index].extend(terms)
        use_answers = bool(settings.answer_weight_tfidf or settings.answer_weight_bm25)
        answers = (
            [analyze(entry.answer[lang], lang, stems=bool(settings.answer_weight_bm25)) for entry in entries]
            if use_answers
            else []
        )

        # One fit over every kind of document, so all cosines share the same n-gram weights.
        char_documents = {"question": question_words}
        if settings.answer_weight_tfidf:
            char_documents["answer"] = [words for words, _ in answers]
        if settings.entry_weight_tfidf:
            char_documents["entry"] = entry_words
        self.char = CharTfidf([doc for docs in char_documents.values() for doc in docs], settings.ngram_range)
        self.char_matrices: dict[str, sparse.csr_matrix] = {}
        offset = 0
        for kind, docs in char_documents.items():
            self.char_matrices[kind] = self.char.matrix[offset : offset + len(docs)].T.tocsr()
            offset += len(docs)

        answer_terms = [terms for _, terms in answers] if settings.answer_weight_bm25 else []
        all_terms = chain.from_iterable(question_terms + answer_terms)
        self.vocabulary = {term: n for n, term in enumerate(dict.fromkeys(all_terms))}
        question_bm25, question_idf = bm25_matrix(
            question_terms, self.vocabulary, settings.bm25_k1, settings.bm25_b
        )
        self.word_matrices = {"question": question_bm25.T.tocsr()}
        if settings.answer_weight_bm25:
            self.word_matrices["answer"] = bm25_matrix(
                answer_terms, self.vocabulary, settings.bm25_k1, settings.bm25_b
            )[0].T.tocsr()
        if settings.entry_weight_bm25:
            self.word_matrices["entry"] = bm25_matrix(
                entry_terms, self.vocabulary, settings.bm25_k1, settings.bm25_b
            )[0].T.tocsr()

        self.by_root: dict[str, list[int]] = {}
        if lang == "ar" and settings.root_fallback:
            for term, column in self.vocabulary.items():
                if len(term) > 3:
                    self.by_root.setdefault(arabic_root(term), []).append(column)
        self.idf = question_idf
        # Two-way matching: each phrasing's distinctive words, IDF-weighted, to see how many the question has.
        presence = (question_bm25 > 0).astype(np.float32)
        weights = np.maximum(question_idf, 1e-3).astype(np.float32)
        self.reverse_matrix = presence.multiply(weights[np.newaxis, :]).tocsr()
        self.reverse_totals = np.asarray(self.reverse_matrix.sum(axis=1)).ravel()
        self.reverse_totals[self.reverse_totals <= 0] = 1.0
        self.entry_sides = np.asarray(
            [opposite_sides(terms, lang) for terms in entry_terms], dtype=np.int8
        ).reshape(len(entries), -1)
        # A word no question uses weighs as much as the rarest word the questions know.
        self.unknown_idf = float(question_idf.max()) if len(question_idf) else 1.0
        self.entry_terms = [set(terms) for terms in entry_terms]
        # The words the guides use (for the share of a question's words they never use): not the words of the
        # topics they do not answer, which are there to be matched, not to make a question look known.
        self.known = set(
            chain.from_iterable(
                terms for terms, entry in zip(entry_terms, entries, strict=True) if entry.covered
            )
        )
        if answer_terms:
            self.known.update(
                chain.from_iterable(t for t, e in zip(answer_terms, entries, strict=True) if e.covered)
            )
        self.speller = Speller(
            chain.from_iterable(question_words), **({} if lang == "en" else ARABIC_SPELLING)
        )

    def _idf(self, term: str) -> float:
        column = self.vocabulary.get(term)
        idf = self.idf[column] if column is not None else 0.0
        return float(idf) if idf > 0 else self.unknown_idf

    def _analyze(self, text: str) -> tuple[list[str], list[str]]:
        return analyze(text, self.lang)

    def _spell(self, words: list[str], terms: list[str]) -> tuple[list[str], list[str]]:
        """A question's words with typing slips read as the known word (see `spelling`)."""
        if len(words) != len(terms):
            return words, terms
        words, terms = list(words), list(terms)
        for n, (word, term) in enumerate(zip(words, terms, strict=True)):
            if term not in self.vocabulary:
                known = self.speller.correct(word)
                known_terms = analyze(known, self.lang)[1] if known is not None else []
                if known_terms:
                    words[n], terms[n] = known, known_terms[0]
        return words, terms

    def _query_terms(self, terms: list[str]) -> tuple[dict[int, float], list[str]]:
        """Vocabulary columns and weights for a question's terms, and the terms as resolved.

        A term the guides never use may be a known word behind a joined «و», «ب», «ل», «ف» or «ك»
        («بموظف»), or share an ISRI root with known words (weighted by root_fallback).
        """
        weights: dict[int, float] = {}
        resolved: list[str] = []
        for term in terms:
            if term not in self.vocabulary and self.lang == "ar" and len(term) > 3 and term[0] in _PROCLITICS:
                bare = arabic_term(term[1:])
                term = bare if bare in self.vocabulary else term
            resolved.append(term)
            column = self.vocabulary.get(term)
            if column is not None:
                weights[column] = 1.0
            elif self.settings.root_fallback and self.lang == "ar" and len(term) > 3:
                for column in self.by_root.get(arabic_root(term), ()):
                    weights.setdefault(column, self.settings.root_fallback)
        return weights, resolved

    def _per_entry(self, query: sparse.csr_matrix, matrices: dict, answer_weight: float, entry_weight: float):
        by_question = (query @ matrices["question"]).toarray().ravel()
        scores = np.maximum.reduceat(by_question, self.starts)
        if answer_weight:
            scores += answer_weight * (query @ matrices["answer"]).toarray().ravel()
        if entry_weight:
            scores += entry_weight * (query @ matrices["entry"]).toarray().ravel()
        return scores, by_question

    def signals(self, text: str, semantic: _SemanticIndex | None = None) -> Signals | None:
        words, terms = self._spell(*self._analyze(text))
        if not words:
            return None
        st = self.settings
        char_scores, cosine_by_question = self._per_entry(
            self.char.vector(words), self.char_matrices, st.answer_weight_tfidf, st.entry_weight_tfidf
        )
        weights, terms = self._query_terms(terms)
        columns = sorted(weights)
        if columns:
            query_terms = sparse.csr_matrix(
                (np.asarray([weights[c] for c in columns], dtype=np.float32), ([0] * len(columns), columns)),
                shape=(1, len(self.vocabulary)),
            )
            word_scores, _ = self._per_entry(
                query_terms, self.word_matrices, st.answer_weight_bm25, st.entry_weight_bm25
            )
        else:
            word_scores = np.zeros_like(char_scores)

        lexical = zscore(char_scores) + st.bm25_weight * zscore(word_scores)
        reverse = self._reverse(weights)
        lexical += st.reverse_weight * reverse
        opposite = self._opposite(terms)
        if opposite is not None:
            lexical -= st.opposite_penalty * opposite
        fused, semantic_scores = lexical, None
        if semantic is not None:
            semantic_questions, semantic_answers = semantic.scores(text, self.lang)
            semantic_scores = zscore(semantic_questions)
            if semantic_answers is not None:
                semantic_scores += st.answer_weight_embedding * zscore(semantic_answers)
            fused = lexical + st.embedding_weight * semantic_scores
            ranked = order(fused, lexical, st.embedding_band)
        else:
            ranked = order(fused)
        best = int(ranked[0])
        total_weight = 1.0 + st.bm25_weight + (st.embedding_weight if semantic is not None else 0.0)
        margin = float(fused[best] - fused[ranked[1]]) if len(ranked) > 1 else float(fused[best])
        margin /= total_weight
        agree = int(np.argmax(char_scores)) == best and (not columns or int(np.argmax(word_scores)) == best)
        semantic_first = semantic_scores is None or int(np.argmax(semantic_scores)) == best
        lexical_first = int(np.argmax(lexical)) == best

        weight = {t: self._idf(t) for t in set(terms)}
        total = sum(weight.values())
        found = sum(w for t, w in weight.items() if t in self.entry_terms[best])
        return Signals(
            lang=self.lang,
            order=tuple(int(i) for i in ranked),
            cosine=float(cosine_by_question[self.starts[best] : self.ends[best]].max()),
            coverage=found / total if total > 0 else 0.0,
            margin=margin,
            agree=bool(agree and semantic_first),
            semantic=float(semantic_questions[best]) if semantic is not None else None,
            reverse=float(reverse[best]),
            opposite=bool(opposite is not None and opposite[best]),
            top=float(fused[best]) / total_weight,
            semantic_z=float(zscore(semantic_questions)[best]) if semantic is not None else 0.0,
            semantic_gap=gap(semantic_questions, best) if semantic is not None else 0.0,
            word_gap=gap(zscore(word_scores), best),
            both_first=lexical_first and semantic_first,
            lexical_gap=gap(lexical, best) / (1.0 + st.bm25_weight),
            semantic_z_gap=gap(semantic_scores, best) if semantic_scores is not None else 0.0,
            content=content_terms(set(terms), self.lang),
            **self._shares(text, terms, best),
            foreign=len(other_organisations(terms, self.lang) - self.entry_terms[best]),
            covered=self.covered[best],
            decoy_gap=self._decoy_gap(lexical, best) / (1.0 + st.bm25_weight),
            semantic_decoy_gap=self._decoy_gap(semantic_scores, best) if semantic_scores is not None else 3.0,
        )

    def _decoy_gap(self, scores: np.ndarray, best: int) -> float:
        """The best entry's score minus the best topic's the guides do not answer (large: no such topic)."""
        if not self.decoys.any():
            return 6.0
        return float(scores[best] - scores[self.decoys].max())

    def _shares(self, text: str, terms: list[str], best: int) -> dict[str, float]:
        """Unknown and missing words (counts, with the number of words), over the whole question or, when
        that leaves fewer, over the clause that asks (a long question's story is not what the entry lacks)."""
        known, entry = self.known, self.entry_terms[best]

        def counts(found: list[str]) -> dict[str, float]:
            unique = set(found)
            return {
                "unknown": sum(1 for t in unique if t not in known),
                "missing": sum(1 for t in unique if t not in entry),
                "words": len(unique),
            }

        whole = counts(terms)
        whole["whole_lacking"] = _lacking(whole)
        clauses = [c for c in _CLAUSE.split(text) if c.strip()]
        if len(set(terms)) < 6 or len(clauses) < 2:
            return whole
        asking = [c for c in clauses if looks_like_question(c)]
        if not asking:
            return whole
        clause = counts(self._query_terms(self._spell(*self._analyze(asking[-1]))[1])[1])
        if clause["words"] < 2:
            return whole
        clause["whole_lacking"] = whole["whole_lacking"]
        return clause if _lacking(clause) < _lacking(whole) else whole

    def _reverse(self, weights: dict[int, float]) -> np.ndarray:
        """Per entry, over its phrasings: the largest share of a phrasing's word weight the question has."""
        if not weights:
            return np.zeros(len(self.starts), dtype=np.float32)
        query = np.zeros(len(self.vocabulary), dtype=np.float32)
        for column, weight in weights.items():
            query[column] = weight
        by_question = (self.reverse_matrix @ query) / self.reverse_totals
        return np.maximum.reduceat(by_question, self.starts)

    def _opposite(self, terms: list[str]) -> np.ndarray | None:
        """Per entry: whether it is about the opposite side of a word in the question (None: no such word)."""
        sides = np.asarray(opposite_sides(terms, self.lang), dtype=np.int8)
        if not sides.any():
            return None
        return ((self.entry_sides * sides[np.newaxis, :]) < 0).any(axis=1).astype(np.float32)


def _lacking(counts: dict[str, float]) -> float:
    """The share of a question's words that the guides or the entry lack."""
    return (counts["unknown"] + counts["missing"]) / max(counts["words"], 1)


class FaqIndex:
    def __init__(
        self,
        entries: list[FaqEntry],
        settings: RankerSettings,
        encoder: SentenceEncoder | None = None,
        embedding_cache: Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.entries = list(entries)
        self.settings = settings
        self._indexes = {lang: _LanguageIndex(self.entries, lang, settings) for lang in ("ar", "en")}
        self._semantic = (
            _SemanticIndex(
                self.entries,
                encoder,
                embedding_cache,
                progress,
                with_answers=bool(settings.answer_weight_embedding),
            )
            if encoder is not None and settings.embedding_weight
            else None
        )
        self._verbatim = verbatim_phrasings(self.entries)

    @classmethod
    def build(
        cls,
        entries: list[FaqEntry],
        settings: RankerSettings | None = None,
        embeddings: bool = True,
        embedding_cache: Path | None = None,
        progress: Progress | None = None,
    ) -> FaqIndex:
        """`embeddings=False`, or the embedding package missing, leaves the lexical signals only.

        `embedding_cache`: a file for the vectors of the entries' texts, read before embedding and rewritten
        when texts were added, so that a restart or an edit re-embeds only new texts.
        `progress(done, total)`: called while texts are embedded (the long part of a cold build).
        """
        if not entries:
            raise ValueError("the FAQ index needs at least one entry")
        settings = settings or RankerSettings()
        encoder = shared_encoder() if embeddings and settings.embedding_weight else None
        return cls(entries, settings, encoder, embedding_cache, progress)

    @property
    def signal_names(self) -> tuple[str, ...]:
        names = ("char n-gram TF-IDF", "BM25")
        return (*names, "USE multilingual v3 embeddings") if self._semantic is not None else names

    def signals(self, text: str) -> Signals | None:
        return self._indexes[detect_language(text)].signals(text, self._semantic)

    def query(self, text: str) -> FaqResult:
        signals = self.signals(text)
        if signals is None or signals.content == 0:
            # Names nothing («من انتم؟», "who are you?"): never answered from the scores, but a question the
            # guides hold word for word is the editors' own statement of what it means.
            found = self._verbatim.get(phrase_key(text))
            if found is not None:
                entry, lang = self.entries[found], detect_language(text)
                if not entry.covered:
                    return FaqResult(
                        status="none", entry=None, score=1.0, suggestions=(), lang=lang, topic=entry
                    )
                return FaqResult(status="confident", entry=entry, score=1.0, suggestions=(), lang=lang)
        if signals is None:
            return FaqResult(status="none", entry=None, score=0.0, suggestions=(), lang=detect_language(text))
        return self.decide(signals)

    def decide(self, signals: Signals) -> FaqResult:
        return self.decide_with(signals, self.settings)

    def decide_with(self, signals: Signals, settings: RankerSettings) -> FaqResult:
        """The answer for these signals under the given thresholds (the bench calibrates them this way)."""
        score = confidence(signals, settings)
        lang = signals.lang
        calibration = settings.calibration(signals)
        best = self.entries[signals.order[0]]
        if not signals.covered:  # closest to a topic the guides do not answer: said plainly, to a person
            return FaqResult(status="none", entry=None, score=score, suggestions=(), lang=lang, topic=best)
        if signals.words == 0:  # greetings, thanks, «نعم»: no word to suggest anything from
            return FaqResult(status="none", entry=None, score=score, suggestions=(), lang=lang)
        # One meaningful word («الاوراق», "documents") names a topic, not a question: at most "likely", so
        # the person sees the answer with «is this what you mean?» and the neighbouring entries.
        one_word = signals.words <= 1
        # A question that names nothing («هل يمكن؟», "can I?"), one about the opposite of the best entry, or one
        # naming another body's programme the entry never mentions («كيف اتبرع لجمعية البر») is never answered:
        # at most suggestions.
        answerable = signals.content > 0 and not signals.opposite and not signals.foreign
        if answerable and not one_word and score >= calibration.confident_at:
            return FaqResult(status="confident", entry=best, score=score, suggestions=(), lang=lang)
        if answerable and score >= calibration.likely_at:
            others = self._suggestions(signals.order[1:], 2)
            return FaqResult(status="likely", entry=best, score=score, suggestions=others, lang=lang)
        split = signals.word_gap < 0 and calibration.split_unsure_at is not None
        if score >= (calibration.split_unsure_at if split else calibration.unsure_at):
            suggestions = self._suggestions(signals.order, 3)
            return FaqResult(status="unsure", entry=None, score=score, suggestions=suggestions, lang=lang)
        return FaqResult(status="none", entry=None, score=score, suggestions=(), lang=lang)

    def _suggestions(self, order: tuple[int, ...], limit: int) -> tuple[FaqEntry, ...]:
        """The first `limit` guide entries in `order` (never a topic the guides do not answer)."""
        return tuple(entry for entry in (self.entries[i] for i in order) if entry.covered)[:limit]
