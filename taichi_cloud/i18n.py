"""Languages: BCP 47 tags, locale negotiation, gettext catalogs and CLDR formatting (babel)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from .errors import Invalid

#: The UI languages with complete gettext catalogs in ``locales/``.
UI_LOCALES: tuple[str, ...] = ("en", "zh-Hans", "zh-Hant", "es", "fr", "ja")
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"

_TAG_RE = re.compile(
    r"^(?P<lang>[a-zA-Z]{2,3})"
    r"(?:-(?P<script>[a-zA-Z]{4}))?"
    r"(?:-(?P<region>[a-zA-Z]{2}|[0-9]{3}))?"
    r"(?P<rest>(?:-(?:[a-zA-Z0-9]{5,8}|[0-9][a-zA-Z0-9]{3}))*)$"
)


def normalize_tag(tag: str) -> str:
    """Canonical case of a well-formed BCP 47 tag (``zh-hant-tw`` → ``zh-Hant-TW``)."""
    m = _TAG_RE.match(tag.strip().replace("_", "-")) if isinstance(tag, str) else None
    if not m or len(tag) > 35:
        raise Invalid(f"{tag!r} is not a valid BCP 47 language tag", field="lang")
    out = m["lang"].lower()
    if m["script"]:
        out += "-" + m["script"].title()
    if m["region"]:
        out += "-" + m["region"].upper()
    return out + m["rest"].lower()


def is_valid_tag(tag: str) -> bool:
    try:
        normalize_tag(tag)
    except Invalid:
        return False
    return True


@lru_cache(maxsize=1024)
def _maximize(tag: str) -> tuple[str, str, str]:
    """(language, script, region) with likely subtags filled in (CLDR)."""
    m = _TAG_RE.match(tag)
    if not m:
        return (tag.lower(), "", "")
    lang, script, region = m["lang"].lower(), m["script"] or "", (m["region"] or "").upper()
    likely: Mapping[str, str] = get_global("likely_subtags")
    for key in (f"{lang}_{region}" if region else "", f"{lang}_{script}" if script else "", lang):
        if key and key in likely:
            parts = likely[key].split("_")
            script = script or next((p for p in parts[1:] if len(p) == 4), "")
            region = region or next((p for p in parts[1:] if len(p) in (2, 3)), "")
            break
    return lang, script.title(), region


def match_tag(wanted: str, available: Iterable[str]) -> str | None:
    """The best available tag for one wanted tag: exact, then same language+script, then language
    (only when the script agrees or is unknown): ``zh-TW`` finds ``zh-Hant``, never ``zh-Hans``."""
    avail = list(available)
    if wanted in avail:
        return wanted
    w_lang, w_script, w_region = _maximize(wanted)
    same_script = [a for a in avail if _maximize(a)[:2] == (w_lang, w_script)]
    if same_script:
        return next((a for a in same_script if _maximize(a)[2] == w_region), same_script[0])
    return None


def parse_accept_language(header: str | None) -> list[str]:
    """Tags from an ``Accept-Language`` header, best first; malformed items are ignored."""
    if not header:
        return []
    items: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        piece, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if piece == "*" or q <= 0 or not is_valid_tag(piece):
            continue
        items.append((-q, index, normalize_tag(piece)))
    return [tag for _, _, tag in sorted(items)]


def fallback_chain(requested: Sequence[str], source: str | None, available: Iterable[str]) -> str | None:
    """requested (``?lang=`` then Accept-Language) → source locale → any available tag."""
    avail = sorted(available)
    if not avail:
        return None
    for tag in requested:
        hit = match_tag(tag, avail)
        if hit:
            return hit
    if source and source in avail:
        return source
    return avail[0]


def load_po(path: Path) -> NullTranslations:
    """Translations straight from a ``.po`` file (compiled in memory: no ``.mo`` to keep in step)."""
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as fp:
        catalog = read_po(fp)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


def babel_locale(tag: str) -> Locale:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale("en")


@dataclass(frozen=True)
class LocaleChoice:
    """What a request asked for and what the UI will speak."""

    requested: tuple[str, ...]  # ?lang= first, then Accept-Language, normalized
    ui: str  # one of UI_LOCALES


class I18n:
    """Loads the gettext catalogs once; hands out translations and CLDR formatting per locale."""

    def __init__(self, locales_dir: Path = LOCALES_DIR, default: str = "en") -> None:
        self.default = default if default in UI_LOCALES else "en"
        self._translations: dict[str, NullTranslations] = {}
        for tag in UI_LOCALES:
            self._translations[tag] = load_po(locales_dir / tag.replace("-", "_") / "LC_MESSAGES" / "messages.po")

    def negotiate(self, query_lang: str | None, accept_language: str | None) -> LocaleChoice:
        requested: list[str] = []
        if query_lang:
            requested.append(normalize_tag(query_lang))
        requested.extend(parse_accept_language(accept_language))
        ui = self.default
        for tag in requested:
            hit = match_tag(tag, UI_LOCALES)
            if hit:
                ui = hit
                break
        return LocaleChoice(tuple(requested), ui)

    def translations(self, tag: str) -> NullTranslations:
        return self._translations.get(tag, self._translations[self.default])

    def translate(self, tag: str, message: str, **params: object) -> str:
        """``message`` in ``tag``; extracted by babel as the keyword ``translate:2``."""
        text = self.translations(tag).gettext(message)
        return text % params if params else text

    @staticmethod
    def format_datetime(value: datetime, tag: str, tz: str = "UTC") -> str:
        return format_datetime(value, "medium", tzinfo=_tzinfo(tz), locale=babel_locale(tag))

    @staticmethod
    def format_number(value: float, tag: str) -> str:
        return format_decimal(value, locale=babel_locale(tag))

    @staticmethod
    def language_name(code: str, tag: str) -> str:
        name = babel_locale(code).get_display_name(babel_locale(tag))
        return name or code


def _tzinfo(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
