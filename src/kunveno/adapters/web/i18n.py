"""Translations: gettext catalogs (``locale/<lang>/LC_MESSAGES/kunveno.po``), read with Babel
and compiled in memory at start, so a translator edits a .po file and nothing else.

English is the source language; a visitor gets the best match of ``?lang=``, the ``lang``
cookie and ``Accept-Language`` among the catalogs present.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
SOURCE = "en"
DOMAIN = "kunveno"


@functools.cache
def available() -> tuple[str, ...]:
    found = sorted(
        path.parent.parent.name for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")
    )
    return (SOURCE, *found)


@functools.cache
def translations(language: str) -> NullTranslations:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == SOURCE or not path.is_file():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def negotiate(asked: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language to answer in: an explicit choice first, then the browser's wishes."""
    for choice in (asked, cookie):
        if choice in available():
            return choice
    wishes: list[tuple[float, str]] = []
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag:
            wishes.append((quality, tag.strip().replace("-", "_")))
    wishes.sort(key=lambda wish: -wish[0])
    try:
        best = Locale.negotiate([tag for _, tag in wishes], list(available()), sep="_")
    except (ValueError, UnknownLocaleError):
        best = None
    return str(best.language) if best is not None else SOURCE
