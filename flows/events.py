"""What a conversation step asks the rest of the system to do. Steps return events; the service applies them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConsentGiven:
    pass


@dataclass(frozen=True)
class LanguageChanged:
    lang: str


@dataclass(frozen=True)
class RequestSubmitted:
    answers: dict
    attachments: dict  # field name -> attachment dict (kind, ref, mime, size, name, sha256)
    support_type: str
    declaration_version: str
    data_sha256: str
    resubmits: str | None = None  # the reference, when answering a "needs more information"


@dataclass(frozen=True)
class FormSubmitted:
    """A form other than the support request (volunteering, feedback, any form in content/forms/)."""

    form: str
    answers: dict
    attachments: dict
    declaration_version: str = ""
    data_sha256: str = ""
    anonymous: bool = False  # no contact data is kept with it and no reply is possible


@dataclass(frozen=True)
class FormReply:
    """The beneficiary answered a question about a submission (e.g. «were you satisfied?»)."""

    reference: str
    choice: str


@dataclass(frozen=True)
class EscalationRequested:
    reason: str  # human | unclear | unanswered


@dataclass(frozen=True)
class BeneficiaryMessage:
    """Something the beneficiary wrote while a person holds the conversation: relayed to staff."""

    text: str
    attachments: tuple = field(default_factory=tuple)


@dataclass(frozen=True)
class QuestionUnanswered:
    key: str  # normalised, digits removed: safe for the gaps report
    lang: str
    text: str = ""  # the question as asked, relayed to the staff thread when `forward` (never logged)
    forward: bool = False


@dataclass(frozen=True)
class DraftDiscarded:
    reason: str  # cancelled | expired | restarted


@dataclass(frozen=True)
class RatingGiven:
    token: str
    value: str  # as pressed; the service checks it is 1..5 and that the poll is this contact's and not stale


@dataclass(frozen=True)
class CommentGiven:
    token: str
    text: str | None  # None: skipped


@dataclass(frozen=True)
class RightsAsked:
    """«بياناتي»: see, copy, correct (field, value), erase or withdraw consent (flows/rights.py applies it)."""

    kind: str  # see | copy | correct | erase | withdraw
    field: str = ""
    value: str = ""


Event = (
    ConsentGiven
    | LanguageChanged
    | RequestSubmitted
    | FormSubmitted
    | FormReply
    | EscalationRequested
    | BeneficiaryMessage
    | QuestionUnanswered
    | DraftDiscarded
    | RatingGiven
    | CommentGiven
    | RightsAsked
)
