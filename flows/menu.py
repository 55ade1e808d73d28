"""The main menu and the words that act like its buttons anywhere in the conversation."""

from __future__ import annotations

from functools import cache

from flows.messages import Option
from flows.text import fold
from flows.turn import Mode, Turn
from locales import N_, translator

MENU_ITEMS = (
    ("menu.ask", N_("menu.option.ask")),
    ("menu.apply", N_("menu.option.apply")),
    ("menu.status", N_("menu.option.status")),
    ("menu.volunteer", N_("menu.option.volunteer")),
    ("menu.feedback", N_("menu.option.feedback")),
    ("menu.mydata", N_("menu.option.mydata")),
    ("menu.human", N_("menu.option.human")),
    ("menu.language", N_("menu.option.language")),
)

# A guide entry's `action` opens a journey: the button it shows (option id, label key).
ACTIONS = {
    "apply": ("menu.apply", N_("faq.action.apply")),
    "status": ("menu.status", N_("faq.action.status")),
    "human": ("menu.human", N_("menu.option.human")),
    "volunteer": ("menu.volunteer", N_("menu.option.volunteer")),
    "complaint": ("menu.feedback", N_("menu.option.feedback")),
}

# Menu entries that open a form when content/forms/ has it (otherwise they say «not available yet»).
JOURNEY_FORMS = {"menu.volunteer": "volunteer", "menu.feedback": "feedback"}

# Option ids that stay valid after their message has scrolled away (navigation buttons).
NAVIGATION = frozenset({item[0] for item in MENU_ITEMS} | {"menu.main", "menu.unclear", "lang.ar", "lang.en"})

COMMANDS = {
    "start": {"/start", "start", "ابدا", "البدايه"},
    "menu.main": {"/menu", "menu", "القائمه", "قائمه", "القائمه الرئيسيه"},
    "help": {"/help", "help", "مساعده", "المساعده", "ساعدني"},
    "cancel": {"/cancel", "cancel", "الغاء", "الغا", "إلغاء"},
    "menu.language": {"/language", "language", "اللغه", "لغه", "تغيير اللغه"},
    "lang.en": {"english", "انجليزي", "الانجليزيه"},
    "lang.ar": {"arabic", "عربي", "العربيه"},
    "menu.mydata": {"/mydata", "mydata", "my data", "بياناتي", "بياناتي الشخصيه"},
    "menu.human": {"/human", "human", "agent", "موظف", "كلم موظف", "التحدث مع موظف", "ابي موظف", "اريد موظف"},
}
COMMAND_OF = {fold(word): command for command, words in COMMANDS.items() for word in words}

LANGUAGE_OPTIONS = (Option("lang.ar", "العربية"), Option("lang.en", "English"))


def menu(turn: Turn, greet: bool) -> None:
    turn.state.mode = Mode.MENU
    options = tuple(turn.option(option_id, key) for option_id, key in MENU_ITEMS)
    fixed = set(JOURNEY_FORMS.values())
    extra = tuple(
        Option(f"open.{form.name}", form.text(form.title, turn.state.lang) or turn.t(form.title))
        for form in turn.ctx.forms
        if form.title and form.name not in fixed
    )
    if extra:  # the forms added as files only: before «talk to a person» and «language»
        options = options[:-2] + extra + options[-2:]
    if greet:
        turn.say("menu.greeting", options=options)
    else:
        turn.say("menu.title", options=options)


def navigation_labels() -> tuple[tuple[str, str], ...]:
    """The labels of the menu's entries in both languages: typed anywhere, they act like the button."""
    return labels_of(tuple(MENU_ITEMS) + (("menu.main", "option.menu"),))


@cache  # the catalogs do not change while the process runs
def labels_of(items: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((option_id, translator(lang)(key)) for option_id, key in items for lang in ("ar", "en"))


def ask_language(turn: Turn) -> None:
    turn.state.mode = Mode.LANGUAGE
    turn.say("language.choose", options=LANGUAGE_OPTIONS)


def ask_question_prompt(turn: Turn) -> None:
    turn.state.mode = Mode.ASK
    options = (turn.option("menu.main", "option.menu"),)
    turn.say("faq.ask_prompt", options=options)


def help_text(turn: Turn) -> None:
    turn.state.mode = Mode.MENU
    options = (
        turn.option("menu.main", "option.menu"),
        turn.option("menu.unclear", "option.unclear"),
        turn.option("menu.human", "menu.option.human"),
    )
    turn.say("help.text", options=options)
