"""What staff, reports and exports see of a beneficiary: masked names, national IDs and mobile numbers.

One module for every place that shows personal data to people other than its owner (the staff desk's cards,
`python -m bot staff`, the requests export), so they all mask the same way."""

from __future__ import annotations

import re

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def mask_name(full_name: object) -> str:
    """«فاطمة محمد العتيبي» -> «فاطمة م. ع.»: the first name and the initials of the others."""
    parts = str(full_name or "").split()
    if not parts:
        return "—"
    return " ".join([parts[0], *(f"{_initial(part)}." for part in parts[1:])])


def _initial(word: str) -> str:
    if word.startswith("ال") and len(word) > 3:  # the article: «العتيبي» is filed under ع
        word = word[2:]
    if "-" in word.strip("-"):
        word = word.strip("-").rsplit("-", 1)[1]
    return word[:1]


def mask_national_id(value: object) -> str:
    """«1000000008» -> «******0008»."""
    digits = re.sub(r"\D", "", str(value or "").translate(_DIGITS))
    if len(digits) <= 4:
        return "*" * len(digits) or "—"
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_mobile(value: object) -> str:
    """«+966501234567» -> «+9665*****567»: the country and mobile prefix, and the last three digits."""
    text = str(value or "").translate(_DIGITS).replace(" ", "")
    if re.fullmatch(r"\+9665\d{8}", text):
        return text[:5] + "*" * 5 + text[-3:]
    digits = re.sub(r"\D", "", text)
    if len(digits) <= 3:
        return "*" * len(digits) or "—"
    return "*" * (len(digits) - 3) + digits[-3:]


MASKS = {"full_name": mask_name, "national_id": mask_national_id, "mobile": mask_mobile}
"""The request fields that are masked outside the owner's own view, and how."""
