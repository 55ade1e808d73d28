"""The one place that builds everything: settings -> database, catalogs, form, guides, service."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import configure_mappers

from bot.keys import install_from
from bot.settings import Settings
from flows.clock import SystemClock
from flows.engine import FlowSettings
from flows.form import FormDefinition, FormDefinitionError, load_form, load_forms
from flows.service import Clock, ConversationService
from locales import LANGUAGES, compile_catalogs, translator
from locales import warm as warm_catalogs
from storage.db import Database
from storage.files import FileStore
from storage.migrate import upgrade_async


class StartupError(Exception):
    """Start-up cannot go on; the message says why in one line."""


def both_languages_have(key: str) -> bool:
    return all(translator(lang).has(key) for lang in LANGUAGES)


def load_content(settings: Settings, faq: Any = None) -> tuple[FormDefinition, Any]:
    """The form and the guides, checked. A mistake stops start-up with a message naming the file and entry.
    `faq`: an index already built from the same guides (tests share one)."""
    compile_catalogs()
    try:
        form = load_form(settings.content_dir / "forms" / "support_request.yaml", has_key=both_languages_have)
    except FormDefinitionError as exc:
        raise StartupError(str(exc)) from None
    return form, faq if faq is not None else load_faq(settings)


def load_other_forms(settings: Settings) -> tuple[FormDefinition, ...]:
    """Every form in content/forms/ besides the support request (volunteering, feedback, any form added as a
    file), checked like it."""
    try:
        forms = load_forms(settings.content_dir / "forms", has_key=both_languages_have)
    except FormDefinitionError as exc:
        raise StartupError(str(exc)) from None
    return tuple(form for name, form in forms.items() if name != "support_request")


def load_faq(settings: Settings) -> Any:
    """The guides, checked now (a mistake stops start-up); the index is built on the first question or by
    `FaqPort.warm()`, so that start-up needs neither numpy/scipy nor the sentence model."""
    guides = settings.content_dir / "guides"
    if not guides.is_dir():
        return None
    from flows.faq import GuideError, load_guides

    try:
        entries = load_guides(guides)
    except GuideError as exc:
        raise StartupError(str(exc)) from None
    cache = settings.faq_cache or settings.data_dir / "faq-embeddings.npz"
    cache.parent.mkdir(parents=True, exist_ok=True)
    return FaqPort(entries, cache, embeddings=settings.faq_embeddings)


_RECENT_ANSWERS = 512


class FaqPort:
    """What the engine needs from the guides: answer a text, and find an entry by id.

    The index is built when first needed. `warm()` builds it in a background thread instead: first the
    lexical index (a second or two even at 2,000 entries, and it answers at once), then, with `embeddings`
    (BOT_FAQ_EMBEDDINGS), the one with the sentence embeddings, which replaces it when ready. Without `warm()`
    the first question builds the full index and waits for it, so answers never depend on timing (the tests
    rely on this).
    """

    def __init__(self, entries: list, cache: Any = None, index: Any = None, embeddings: bool = True) -> None:
        import threading

        # True (set by `python -m bot chat`): a question before the index exists starts `warm()` and is
        # answered by the lexical index as soon as it is built, instead of waiting for the sentence model.
        self.background = False
        self.progress: Any = None  # progress(done, total) while a build embeds texts (a terminal's bar)
        self.entries = entries
        self.embeddings = embeddings
        self._cache = cache
        self._by_id = {entry.id: entry for entry in entries if entry.covered}  # never a decoy topic
        self._index = index
        self._lock = threading.Lock()
        self._warming: Any = None
        self._lexical_ready = threading.Event()
        # The latest answers, by question text, with the index that gave them: a question asked again (often
        # the same words) is not ranked again, nor is one whose turn the raw path hands to the full path.
        self._recent: dict[str, tuple[Any, Any]] = {}

    @property
    def index(self) -> Any:
        if self._index is None and self.background:
            self.warm()
        if self._index is None and self._warming is not None:
            self._lexical_ready.wait()  # the background build answers lexically within a second or two
        if self._index is None:
            with self._lock:
                if self._index is None:
                    from flows.faq import FaqIndex

                    self._index = FaqIndex.build(
                        self.entries,
                        embeddings=self.embeddings,
                        embedding_cache=self._cache,
                        progress=self.progress,
                    )
        return self._index

    def warm(self) -> None:
        """Start building the index in the background (once); returns at once."""
        import threading

        with self._lock:
            if self._index is not None or self._warming is not None:
                return
            self._warming = threading.Thread(target=self._build_in_background, name="faq-index", daemon=True)
            self._warming.start()

    def _build_in_background(self) -> None:
        from flows.faq import FaqIndex

        lexical = FaqIndex.build(self.entries, embeddings=False)
        with self._lock:
            if self._index is None:
                self._index = lexical
        self._lexical_ready.set()
        if not self.embeddings:
            return
        full = FaqIndex.build(self.entries, embedding_cache=self._cache)
        with self._lock:
            self._index = full

    def __call__(self, text: str) -> Any:
        index = self.index
        found = self._recent.get(text)
        # Not an answer of the lexical index that the full one has replaced since.
        if found is not None and found[0] is index:
            return found[1]
        result = index.query(text)
        if len(self._recent) >= _RECENT_ANSWERS:
            self._recent.pop(next(iter(self._recent)))  # the oldest
        self._recent[text] = (index, result)
        return result

    def entry(self, entry_id: str) -> Any:
        return self._by_id.get(entry_id)


@dataclass
class App:
    settings: Settings
    db: Database
    service: ConversationService
    form: FormDefinition
    faq: Any
    clock: Clock
    forms: tuple[FormDefinition, ...] = ()  # the forms besides the support request

    async def close(self) -> None:
        await self.db.dispose()


def flow_settings(settings: Settings) -> FlowSettings:
    return FlowSettings(
        decision_days=settings.decision_days,
        draft_expiry=timedelta(hours=settings.draft_expiry_hours),
        resume_prompt_after=timedelta(minutes=settings.resume_prompt_minutes),
        timezone=settings.timezone,
        survey_delay=timedelta(seconds=settings.survey_delay_seconds),
        survey_after_close=settings.survey_after_close,
        feedback_days=settings.feedback_days,
        retention_years=settings.retention_years,
    )


async def build_app(
    settings: Settings, clock: Clock | None = None, migrate: bool = True, faq: Any = None
) -> App:
    # The ranker's BLAS threads would fight the event loop for the two cores.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    form, faq = load_content(settings, faq)
    install_from(settings)  # the data key, before anything reads or writes a sealed column
    forms = load_other_forms(settings)
    if migrate:
        await upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    # Once per process, now rather than in the first messages: the catalogs' number and date formats, and the
    # ORM's mapper set-up (the first model built anywhere would do it).
    warm_catalogs()
    configure_mappers()
    clock = clock or SystemClock()
    service = ConversationService(
        db,
        form,
        clock,
        flow_settings(settings),
        faq=faq,
        default_language=settings.default_language,
        files=FileStore(settings.files_dir),
        forms=forms,
    )
    return App(settings=settings, db=db, service=service, form=form, faq=faq, clock=clock, forms=forms)
