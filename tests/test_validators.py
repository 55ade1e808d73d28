"""Each validator, valid and invalid, with Arabic-Indic digits."""

from __future__ import annotations

import pytest

from flows.messages import Attachment, AttachmentKind
from flows.validators import (
    Invalid,
    Valid,
    children_count,
    city,
    description,
    document,
    family_size,
    full_name,
    id_photo,
    luhn_ok,
    monthly_income,
    saudi_mobile,
    saudi_national_id,
)


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("1000000008", "1000000008"),
        ("1234567897", "1234567897"),
        ("2123456788", "2123456788"),
        ("2000000006", "2000000006"),
        ("١٠٠٠٠٠٠٠٠٨", "1000000008"),  # Arabic-Indic digits
        ("۱۰۰۰۰۰۰۰۰۸", "1000000008"),  # Extended (Persian) digits
        (" 1000 000 008 ", "1000000008"),
        ("\u200f1000000008\u200e", "1000000008"),  # bidi marks from a phone keyboard
    ],
)
def test_valid_national_ids_and_iqamas(typed, stored):
    assert saudi_national_id(typed, {}) == Valid(stored)


@pytest.mark.parametrize(
    "typed, error",
    [
        ("1000000009", "error.id_check"),
        ("1234567890", "error.id_check"),
        ("3000000001", "error.id_first_digit"),
        ("100000000", "error.id_length"),
        ("10000000088", "error.id_length"),
        ("10000O0008", "error.id_digits"),
        ("", "error.empty"),
        ("😀", "error.id_digits"),
    ],
)
def test_invalid_national_ids_explain_why(typed, error):
    result = saudi_national_id(typed, {})
    assert isinstance(result, Invalid) and result.error_key == error


def test_luhn_matches_the_published_examples():
    assert all(luhn_ok(n) for n in ("1000000008", "1234567897", "2123456788", "2000000006"))
    assert not any(luhn_ok(n) for n in ("1000000009", "1234567898", "2123456789"))


@pytest.mark.parametrize(
    "typed",
    [
        "0501234567",
        "501234567",
        "966501234567",
        "00966501234567",
        "+966501234567",
        "+966 50 123 4567",
        "050-123-4567",
        "٠٥٠١٢٣٤٥٦٧",
        "+٩٦٦٥٠١٢٣٤٥٦٧",
        "۰۵۰۱۲۳۴۵۶۷",
    ],
)
def test_every_saudi_mobile_form_is_stored_as_e164(typed):
    assert saudi_mobile(typed, {}) == Valid("+966501234567")


@pytest.mark.parametrize("typed", ["0112345678", "05012345", "+971501234567", "hello", "", "0501234567890"])
def test_landlines_foreign_and_malformed_numbers_are_refused(typed):
    result = saudi_mobile(typed, {})
    assert isinstance(result, Invalid) and result.error_key in ("error.mobile", "error.empty")


def test_full_name_needs_three_names_in_letters():
    assert full_name("  فاطمة   محمد العتيبي ", {}) == Valid("فاطمة محمد العتيبي")
    assert full_name("Sara Ahmed Al-Harbi", {}) == Valid("Sara Ahmed Al-Harbi")
    assert full_name("فاطمة", {}).error_key == "error.name_parts"
    assert full_name("فاطمة 123 العتيبي", {}).error_key == "error.name_letters"
    assert full_name("ا" * 101, {}).error_key == "error.name_too_long"


def test_city_is_letters():
    assert city("الرياض", {}) == Valid("الرياض")
    assert city("12", {}).error_key == "error.city_letters"


def test_numbers_accept_arabic_indic_digits_and_check_ranges():
    assert family_size("٥", {}) == Valid(5)
    assert family_size("0", {}).error_key == "error.number_range"
    assert family_size("خمسة", {}).error_key == "error.number"
    assert children_count("٣", {"family_members": 5}) == Valid(3)
    assert children_count("5", {"family_members": 5}).error_key == "error.children_vs_family"
    assert monthly_income("٢٬٥٠٠", {}) == Valid(2500)
    assert monthly_income("2,500", {}) == Valid(2500)
    assert monthly_income("-5", {}).error_key == "error.money"  # issue 9: a money-shaped example


def test_description_needs_letters():
    assert isinstance(description("نحتاج مساعدة في إيجار المنزل", {}), Valid)
    assert description("😀😀😀😀😀😀😀😀😀😀", {}).error_key == "error.description_short"
    assert description("قصير", {}).error_key == "error.description_short"


def _file(kind, mime, size):  # type: ignore[no-untyped-def]
    return Attachment(kind=kind, ref="file:/x", mime=mime, size=size, name="x")


def test_file_types_and_sizes():
    assert isinstance(id_photo(_file(AttachmentKind.PHOTO, "image/jpeg", 1000), {}), Valid)
    assert (
        id_photo(_file(AttachmentKind.DOCUMENT, "application/pdf", 1000), {}).error_key
        == "error.photo_needed"
    )
    assert (
        id_photo(_file(AttachmentKind.PHOTO, "image/jpeg", 11 * 1024 * 1024), {}).error_key
        == "error.file_size"
    )
    assert isinstance(document(_file(AttachmentKind.DOCUMENT, "application/pdf", 1000), {}), Valid)
    assert (
        document(_file(AttachmentKind.DOCUMENT, "application/zip", 1000), {}).error_key == "error.file_type"
    )
    assert document(_file(AttachmentKind.DOCUMENT, "application/pdf", 0), {}).error_key == "error.file_empty"
