"""Both sides of every limit the request form enforces (content/forms/support_request.yaml -> flows/validators.py).

Each limit is checked at the last value accepted and the first value refused, with the exact message key and
its parameters (what the applicant reads), so a limit moved by one, or a `>` turned into `>=`, is noticed.
"""

from __future__ import annotations

import pytest

from flows.form import load_form
from flows.messages import Attachment, AttachmentKind
from flows.validators import (
    MAX_FILE_BYTES,
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
    saudi_national_id,
)
from tests.conftest import ROOT


def saudi_id(first_nine: str) -> str:
    """The published Saudi ID / iqama check digit, written independently of the code under test: from the
    left, digits at odd positions are doubled and their digits summed, then the total is rounded up to ten."""
    total = 0
    for position, char in enumerate(first_nine, start=1):
        value = int(char) * (2 if position % 2 == 1 else 1)
        total += value // 10 + value % 10
    return first_nine + str((10 - total % 10) % 10)


# ---- the form names the validators these tests cover ------------------------------------------------


def test_the_form_uses_the_validators_whose_limits_are_tested_here() -> None:
    form = load_form(ROOT / "content" / "forms" / "support_request.yaml")
    assert {f.name: f.validator for f in form.fields} == {
        "full_name": "full_name",
        "national_id": "saudi_national_id",
        "mobile": "saudi_mobile",
        "city": "city",
        "family_members": "family_size",
        "children": "children_count",
        "monthly_income": "monthly_income",
        "support_type": "choice",
        "description": "description",
        "id_photo": "id_photo",
        "proof_document": "document",
    }


# ---- full name: 3+ names, letters, at most 100 characters --------------------------------------------


def test_a_name_of_exactly_100_characters_is_accepted_and_101_is_refused() -> None:
    hundred = "ا" * 48 + " " + "ب" * 25 + " " + "ج" * 25
    assert len(hundred) == 100
    assert full_name(hundred, {}) == Valid(hundred)
    assert full_name(hundred + "د", {}) == Invalid("error.name_too_long", count=100)


def test_two_names_are_refused_and_three_or_four_are_accepted() -> None:
    assert full_name("فاطمة العتيبي", {}) == Invalid("error.name_parts")
    assert full_name("Sara Alharbi", {}) == Invalid("error.name_parts")
    assert full_name("فاطمة محمد العتيبي", {}) == Valid("فاطمة محمد العتيبي")
    assert full_name("فاطمة محمد عبدالله العتيبي", {}) == Valid("فاطمة محمد عبدالله العتيبي")


def test_an_empty_name_is_asked_again_as_empty() -> None:
    assert full_name("", {}) == Invalid("error.empty")
    assert full_name("   ", {}) == Invalid("error.empty")


# ---- national ID / iqama: 10 digits, first 1 or 2, check digit ---------------------------------------


def test_the_independent_check_digit_agrees_with_the_validator() -> None:
    for first_nine in ("100000000", "212345678", "123456789", "198765432"):
        assert luhn_ok(saudi_id(first_nine))
        wrong = saudi_id(first_nine)[:-1] + str((int(saudi_id(first_nine)[-1]) + 1) % 10)
        assert not luhn_ok(wrong)


def test_nine_and_eleven_digits_are_refused_with_the_count_and_ten_are_accepted() -> None:
    ten = saudi_id("123456789")
    assert saudi_national_id(ten, {}) == Valid(ten)
    assert saudi_national_id(ten[:9], {}) == Invalid("error.id_length", count=9)
    assert saudi_national_id(ten + "1", {}) == Invalid("error.id_length", count=11)


def test_only_ids_starting_with_1_or_2_are_accepted() -> None:
    assert saudi_national_id(saudi_id("112345678"), {}) == Valid(saudi_id("112345678"))
    assert saudi_national_id(saudi_id("212345678"), {}) == Valid(saudi_id("212345678"))
    for first in "03456789":
        typed = saudi_id(first + "12345678")
        assert luhn_ok(typed)
        assert saudi_national_id(typed, {}) == Invalid("error.id_first_digit"), typed


def test_an_id_with_letters_or_nothing_is_explained() -> None:
    assert saudi_national_id("", {}) == Invalid("error.empty")
    assert saudi_national_id(" - ", {}) == Invalid("error.empty")
    assert saudi_national_id("10000a0008", {}) == Invalid("error.id_digits")
    assert saudi_national_id("１０００００００００８", {}) == Invalid("error.id_digits")  # full-width digits


# ---- city: letters, at most 50 characters -------------------------------------------------------------


def test_a_city_of_50_characters_is_accepted_and_51_is_refused() -> None:
    assert city("ا" * 50, {}) == Valid("ا" * 50)
    assert city("ا" * 51, {}) == Invalid("error.too_long", count=50)
    assert city("", {}) == Invalid("error.empty")
    assert city("حي 12", {}) == Invalid("error.city_letters")


# ---- numbers: family 1..30, children 0..29 and fewer than the family, income 0..1,000,000 ---------------


@pytest.mark.parametrize(("typed", "valid"), [("0", False), ("1", True), ("30", True), ("31", False)])
def test_family_size_is_from_1_to_30(typed: str, valid: bool) -> None:
    expected = Valid(int(typed)) if valid else Invalid("error.number_range", {"low": 1, "high": 30})
    assert family_size(typed, {}) == expected


@pytest.mark.parametrize(("typed", "valid"), [("0", True), ("29", True), ("30", False)])
def test_children_are_from_0_to_29(typed: str, valid: bool) -> None:
    expected = Valid(int(typed)) if valid else Invalid("error.number_range", {"low": 0, "high": 29})
    assert children_count(typed, {}) == expected


def test_children_must_be_fewer_than_the_family_members() -> None:
    assert children_count("4", {"family_members": 5}) == Valid(4)
    assert children_count("5", {"family_members": 5}) == Invalid("error.children_vs_family", {"family": 5})
    assert children_count("6", {"family_members": 5}) == Invalid("error.children_vs_family", {"family": 5})
    assert children_count("29", {"family_members": 30}) == Valid(29)
    assert children_count("0", {"family_members": 1}) == Valid(0)
    # Without a family size yet (an edit of the children alone), only the range applies.
    assert children_count("7", {}) == Valid(7)
    assert children_count("7", {"family_members": "5"}) == Valid(7)


@pytest.mark.parametrize(
    ("typed", "valid"), [("0", True), ("1000000", True), ("1,000,000", True), ("1000001", False)]
)
def test_monthly_income_is_from_0_to_a_million(typed: str, valid: bool) -> None:
    expected = (
        Valid(int(typed.replace(",", "")))
        if valid
        else Invalid("error.number_range", {"low": 0, "high": 1_000_000})
    )
    assert monthly_income(typed, {}) == expected


def test_numbers_that_are_not_whole_numbers_are_explained() -> None:
    assert family_size("", {}) == Invalid("error.empty")
    assert family_size("5a", {}) == Invalid("error.number")
    assert family_size("٥ أفراد", {}) == Invalid("error.number")
    assert family_size("２", {}) == Invalid("error.number")  # a full-width digit
    assert family_size("٣٠", {}) == Valid(30)


# ---- description: 10 to 1000 characters, with letters ---------------------------------------------------


def test_a_description_of_9_characters_is_too_short_and_10_is_enough() -> None:
    assert description("ا" * 9, {}) == Invalid("error.description_short")
    assert description("ا" * 10, {}) == Valid("ا" * 10)


def test_a_description_of_1000_characters_is_accepted_and_1001_is_refused() -> None:
    assert description("ا" * 1000, {}) == Valid("ا" * 1000)
    assert description("ا" * 1001, {}) == Invalid("error.too_long", count=1000)
    assert description("", {}) == Invalid("error.empty")
    assert description("1234567890", {}) == Invalid("error.description_short")


# ---- files: at most 10 MB, not empty, of an allowed type ------------------------------------------------


def attachment(
    size: int, mime: str = "image/jpeg", kind: AttachmentKind = AttachmentKind.PHOTO
) -> Attachment:
    return Attachment(kind=kind, ref="file:/x", mime=mime, size=size, name="x.jpg", sha256="c" * 64)


def test_the_file_limit_is_ten_megabytes() -> None:
    assert MAX_FILE_BYTES == 10 * 1024 * 1024


@pytest.mark.parametrize("check", [id_photo, document])
def test_a_file_of_exactly_10_mb_is_accepted_and_one_byte_more_is_refused(check) -> None:  # type: ignore[no-untyped-def]
    assert check(attachment(10 * 1024 * 1024), {}) == Valid(
        {
            "kind": "photo",
            "ref": "file:/x",
            "mime": "image/jpeg",
            "size": 10 * 1024 * 1024,
            "name": "x.jpg",
            "sha256": "c" * 64,
        }
    )
    assert check(attachment(10 * 1024 * 1024 + 1), {}) == Invalid("error.file_size", {"max_mb": 10})


@pytest.mark.parametrize("check", [id_photo, document])
def test_an_empty_file_is_refused_and_one_byte_is_accepted(check) -> None:  # type: ignore[no-untyped-def]
    assert check(attachment(0), {}) == Invalid("error.file_empty")
    assert isinstance(check(attachment(1), {}), Valid)


def test_the_id_photo_must_be_an_image_and_the_document_may_be_a_pdf() -> None:
    pdf = attachment(1000, "application/pdf", AttachmentKind.DOCUMENT)
    assert id_photo(pdf, {}) == Invalid("error.photo_needed")
    assert isinstance(document(pdf, {}), Valid)
    png_as_file = attachment(1000, "image/png", AttachmentKind.DOCUMENT)
    assert isinstance(id_photo(png_as_file, {}), Valid)
    for mime in ("image/png", "image/webp", "image/heic"):
        assert isinstance(id_photo(attachment(1000, mime), {}), Valid), mime
    zip_file = attachment(1000, "application/zip", AttachmentKind.DOCUMENT)
    assert id_photo(zip_file, {}) == Invalid("error.file_type")
    assert document(zip_file, {}) == Invalid("error.file_type")
    assert id_photo(attachment(1000, "application/pdf"), {}) == Invalid("error.file_type")
