"""Finding support requests for staff: by reference or by national ID, and the same ID on other requests.

Two applicants may give the same national ID (families share phones; a typing mistake can be fixed): the
applicant is never blocked, but staff are told plainly which other requests carry that ID.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flows.text import ascii_digits, clean
from locales import Translator
from storage.crypto import active
from storage.models import NATIONAL_ID_INDEX, SupportRequest

_REFERENCE = re.compile(r"#?(\d{4})[-_\u2010-\u2015](\d{1,6})")
_NATIONAL_ID = re.compile(r"[12]\d{9}")
_LTR = "\u2068{}\u2069"  # keeps digits in order inside Arabic text
_MARKS = re.compile("[\u200e\u200f\u2066-\u2069\u202a-\u202e]")  # direction marks copied from a card


def parse_reference(text: str) -> str | None:
    """«٢٠٢٦-١٢», "2026-12" or a reference copied from a card -> "2026-00012"."""
    match = _REFERENCE.fullmatch(_MARKS.sub("", ascii_digits(clean(text))))
    if match is None:
        return None
    return f"{match.group(1)}-{int(match.group(2)):05d}"


def parse_national_id(text: str) -> str | None:
    """Ten digits starting with 1 (citizen) or 2 (resident), in any digits, spaces and dashes allowed."""
    digits = re.sub(r"[\s\-]", "", _MARKS.sub("", ascii_digits(clean(text))))
    return digits if _NATIONAL_ID.fullmatch(digits) else None


async def requests_with_national_id(
    session: AsyncSession, national_id: str, *, except_id: int | None = None
) -> list[SupportRequest]:
    """Every request whose form gave this national ID, oldest first."""
    # The data is sealed at rest: the look-up goes through the blind index, under every key of the ring.
    indexes = active().blind_indexes(NATIONAL_ID_INDEX, national_id)
    statement = select(SupportRequest).where(SupportRequest.national_id_index.in_(indexes))  # type: ignore[union-attr]
    if except_id is not None:
        statement = statement.where(SupportRequest.id != except_id)
    return list((await session.execute(statement.order_by(SupportRequest.id))).scalars())


async def find_requests(session: AsyncSession, query: str) -> list[SupportRequest]:
    """What staff typed after /find (or `staff show`): a reference, or a national ID (all its requests)."""
    reference = parse_reference(query)
    if reference is not None:
        statement = select(SupportRequest).where(SupportRequest.reference == reference)
        return list((await session.execute(statement)).scalars())
    national_id = parse_national_id(query)
    if national_id is not None:
        return await requests_with_national_id(session, national_id)
    return []


async def same_id_line(
    session: AsyncSession, request: SupportRequest, t: Translator, mask: Callable[[object], str]
) -> str | None:
    """The card's warning when this request's national ID also appears on other requests, else None."""
    national_id = (request.data or {}).get("national_id")
    if not national_id:
        return None
    others = await requests_with_national_id(session, str(national_id), except_id=request.id)
    if not others:
        return None
    separator = "، " if t.lang == "ar" else ", "
    references = separator.join(_LTR.format(other.reference) for other in others)
    return t("desk.card.same_id", national_id=_LTR.format(mask(national_id)), references=references)
