"""Named validators for the request form: plain functions of (value, answers so far) -> Valid | Invalid.

The form definition in content/ names them; an unknown name stops start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from flows.messages import Attachment, AttachmentKind
from flows.text import ascii_digits, clean, has_letters


@dataclass(frozen=True)
class Valid:
    value: Any


@dataclass(frozen=True)
class Invalid:
    error_key: str
    params: dict = field(default_factory=dict)
    count: int | None = None  # a plural message: the catalog's plural rule picks the form for this number


Result = Valid | Invalid
Validator = Callable[[Any, Mapping[str, Any]], Result]

VALIDATORS: dict[str, Validator] = {}
ATTACHMENT_VALIDATORS: set[str] = set()


def validator(name: str, attachment: bool = False) -> Callable[[Validator], Validator]:
    def register(func: Validator) -> Validator:
        VALIDATORS[name] = func
        if attachment:
            ATTACHMENT_VALIDATORS.add(name)
        return func

    return register


def luhn_ok(digits: str) -> bool:
    """Standard Luhn over all digits (the Saudi ID/iqama check: doubling at even positions from the left
    for a 10-digit number is the same as Luhn's doubling of every second digit from the right)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = int(char)
        if index % 2 == 1:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


_NAME_CHARS = re.compile(r"^[^\W\d_]+(?:[ '\-.][^\W\d_]+)*$")


@validator("full_name")
def full_name(value: str, _answers: Mapping[str, Any]) -> Result:
    text = clean(value)
    if not text:
        return Invalid("error.empty")
    if len(text) > 100:
        return Invalid("error.name_too_long", count=100)
    if not _NAME_CHARS.match(text):
        return Invalid("error.name_letters")
    if len(text.split(" ")) < 3:
        return Invalid("error.name_parts")
    return Valid(text)


@validator("saudi_national_id")
def saudi_national_id(value: str, _answers: Mapping[str, Any]) -> Result:
    digits = re.sub(r"[\s\-]", "", ascii_digits(clean(value)))
    if not digits:
        return Invalid("error.empty")
    if not digits.isascii() or not digits.isdigit():
        return Invalid("error.id_digits")
    if len(digits) != 10:
        return Invalid("error.id_length", count=len(digits))
    if digits[0] not in "12":
        return Invalid("error.id_first_digit")
    if not luhn_ok(digits):
        return Invalid("error.id_check")
    return Valid(digits)


@validator("saudi_mobile")
def saudi_mobile(value: str, _answers: Mapping[str, Any]) -> Result:
    text = re.sub(r"[\s\-()]", "", ascii_digits(clean(value)))
    if not text:
        return Invalid("error.empty")
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.startswith("966"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, "SA")
    except phonenumbers.NumberParseException:
        return Invalid("error.mobile")
    if (
        number.country_code != 966
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE
    ):
        return Invalid("error.mobile")
    return Valid(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


@validator("city")
def city(value: str, _answers: Mapping[str, Any]) -> Result:
    text = clean(value)
    if not text:
        return Invalid("error.empty")
    if len(text) > 50:
        return Invalid("error.too_long", count=50)
    if not _NAME_CHARS.match(text):
        return Invalid("error.city_letters")
    return Valid(text)


def _whole_number(value: str, low: int, high: int) -> Result:
    text = ascii_digits(clean(value)).replace(",", "").replace("٬", "")
    if not text:
        return Invalid("error.empty")
    if not text.isascii() or not text.isdigit():
        return Invalid("error.number")
    number = int(text)
    if not low <= number <= high:
        return Invalid("error.number_range", {"low": low, "high": high})
    return Valid(number)


@validator("family_size")
def family_size(value: str, _answers: Mapping[str, Any]) -> Result:
    return _whole_number(value, 1, 30)


@validator("children_count")
def children_count(value: str, answers: Mapping[str, Any]) -> Result:
    result = _whole_number(value, 0, 29)
    family = answers.get("family_members")
    if isinstance(result, Valid) and isinstance(family, int) and result.value >= family:
        return Invalid("error.children_vs_family", {"family": family})
    return result


# «3,500 ريال», «٣٬٥٠٠», «SAR 3500», «3500.00 ر.س»: thousands in groups of three after , ٬ or ، (and spaces).
_CURRENCY = re.compile(r"(?i)\b(?:sar|sr|riyals?)\b|ريال(?:ات|ا)?|ر\.?\s?س\.?|﷼")
_AMOUNT = re.compile(r"^\d{1,3}(?:,\d{3})+$|^\d+$")
_DECIMALS = re.compile(r"\.\d{1,2}$")


def parse_amount(value: str) -> int | None:
    """A sum of money in riyals as people type it, or None. Halalas are rounded to the nearest riyal."""
    text = _CURRENCY.sub(" ", ascii_digits(clean(value)))
    text = re.sub(r"(?<=\d)\s(?=\d{3}\b)", ",", text.strip())  # «3 500»
    text = text.replace(" ", "").replace("٬", ",").replace("،", ",").replace("٫", ".")
    decimals = _DECIMALS.search(text)
    fraction = 0.0
    if decimals:
        fraction = float("0." + decimals.group(0)[1:])
        text = text[: decimals.start()]
    if not text.isascii() or not _AMOUNT.match(text):
        return None
    return int(text.replace(",", "")) + (1 if fraction >= 0.5 else 0)


@validator("monthly_income")
def monthly_income(value: str, _answers: Mapping[str, Any]) -> Result:
    if not clean(value):
        return Invalid("error.empty")
    amount = parse_amount(value)
    if amount is None:
        return Invalid("error.money")
    if amount > 1_000_000:
        return Invalid("error.number_range", {"low": 0, "high": 1_000_000})
    return Valid(amount)


@validator("description")
def description(value: str, _answers: Mapping[str, Any]) -> Result:
    text = clean(value)
    if not text:
        return Invalid("error.empty")
    if len(text) > 1000:
        return Invalid("error.too_long", count=1000)
    if len(text) < 10 or not has_letters(text):
        return Invalid("error.description_short")
    return Valid(text)


@validator("choice")
def choice(value: str, _answers: Mapping[str, Any]) -> Result:
    return Valid(value)


IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic"})
DOCUMENT_TYPES = IMAGE_TYPES | {"application/pdf"}
MAX_FILE_BYTES = 10 * 1024 * 1024


def _file(value: Attachment, allowed: frozenset[str], max_bytes: int) -> Result:
    # The channel decided ``mime`` by opening the bytes (storage/files.py): octet-stream means it did not open.
    if value.size <= 0:
        return Invalid("error.file_empty")
    if value.size > max_bytes:
        return Invalid("error.file_size", {"max_mb": max_bytes // (1024 * 1024)})
    if value.mime == "application/octet-stream":
        return Invalid("error.file_unreadable")
    if value.mime not in allowed:
        return Invalid("error.file_type")
    if not value.ref.startswith("file:"):  # the channel could not fetch and open it
        return Invalid("error.file_unreadable")
    return Valid(
        {
            "kind": str(value.kind),
            "ref": value.ref,
            "mime": value.mime,
            "size": value.size,
            "name": value.name,
            "sha256": value.sha256,
        }
    )


@validator("id_photo", attachment=True)
def id_photo(value: Attachment, _answers: Mapping[str, Any]) -> Result:
    if value.kind == AttachmentKind.DOCUMENT and value.mime == "application/pdf":
        return Invalid("error.photo_needed")
    return _file(value, IMAGE_TYPES, MAX_FILE_BYTES)


@validator("document", attachment=True)
def document(value: Attachment, _answers: Mapping[str, Any]) -> Result:
    return _file(value, DOCUMENT_TYPES, MAX_FILE_BYTES)
