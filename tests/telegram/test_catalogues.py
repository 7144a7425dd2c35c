"""The catalogues hold every sentence the code uses, in every language, with the same
placeholders; a missing or broken translation fails here, not in a chat."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.telegram.i18n import SUPPORTED_LOCALES, default_locales_dir, make_i18n
from tests.support.locales import compile_locales

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")


def code_ids() -> set[str]:
    ids: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        ROOT / "bot", keywords={"_": None, "gettext": None}
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def catalogue(locale: str) -> dict[str, str]:
    path = default_locales_dir() / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        cat = read_po(f, locale=locale)
    # a singular message (a str id) has a str translation ("" when untranslated)
    return {m.id: cast(str, m.string) for m in cat if m.id and isinstance(m.id, str)}


def test_code_uses_sentences() -> None:
    # guards the extractor itself: an empty set would make the checks below vacuous
    assert "This button has expired." in code_ids()
    assert len(code_ids()) > 100


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_catalogue_has_every_message_of_the_code(locale: str) -> None:
    entries = catalogue(locale)
    missing = sorted(code_ids() - set(entries))
    untranslated = sorted(i for i in code_ids() if not entries.get(i))
    assert missing == []
    assert untranslated == []


def test_template_matches_the_code() -> None:
    with (default_locales_dir() / "messages.pot").open("rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    assert code_ids() == template


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_placeholders_match(locale: str) -> None:
    broken = [
        (msgid, text)
        for msgid, text in catalogue(locale).items()
        if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(text))
    ]
    assert broken == []


@pytest.mark.parametrize("locale", ["ru", "uk"])
def test_translations_are_not_english(locale: str) -> None:
    same = [i for i, s in catalogue(locale).items() if s == i and re.search(r"[a-z]{4}", i)]
    # commands and codes stay as they are; sentences do not
    assert [s for s in same if " " in s.strip()] == []


def test_compiled_catalogues_translate(tmp_path: Path) -> None:
    i18n = make_i18n("en", compile_locales(tmp_path / "locales"))
    assert set(i18n.available_locales) == set(SUPPORTED_LOCALES)
    assert i18n.gettext("The queue is empty.", locale="ru") == "Очередь пуста."
    assert i18n.gettext("The queue is empty.", locale="uk") == "Черга порожня."
    assert i18n.gettext("The queue is empty.", locale="en") == "The queue is empty."
