"""Words of opposite meaning that the ranker must never merge: a question about one side is not answered
by an entry about the other («ارتفاع ضغط الدم» is not «هبوط ضغط الدم»; accepted is not rejected).

Each pair is two groups of words, written naturally; they go through the same normalisation, stemming and
synonyms as the questions, so list the forms people type. Edit this table, not the code.
"""

OPPOSITES: dict[str, list[tuple[list[str], list[str]]]] = {
    "ar": [
        (
            ["ارتفاع", "مرتفع", "مرتفعه", "عالي", "عاليه", "زياده", "زيادة"],
            ["هبوط", "انخفاض", "منخفض", "منخفضه", "نازل", "نقص", "تخفيض"],
        ),
        (
            ["قبول", "مقبول", "انقبل", "موافقه", "وافقوا", "قبلوا"],
            ["رفض", "مرفوض", "انرفض", "رفضوا", "رفضتوا", "رفضتم"],
        ),
        (["قبل"], ["بعد"]),
        (["اضافه", "اضيف", "اضافة"], ["حذف", "احذف", "مسح", "امسح", "الغاء", "الغي"]),
    ],
    "en": [
        (["high", "higher", "raise", "increase", "up"], ["low", "lower", "drop", "decrease", "down"]),
        (
            ["accept", "accepted", "approved", "approval", "approve"],
            ["reject", "rejected", "refused", "declined", "denied", "rejection"],
        ),
        (["before"], ["after"]),
        (["add", "adding"], ["delete", "remove", "erase", "cancel"]),
    ],
}
