"""Languages: complete gettext catalogs, negotiation, CLDR formatting."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from taichi_cloud.errors import Invalid
from taichi_cloud.i18n import (
    UI_LOCALES,
    I18n,
    fallback_chain,
    match_tag,
    normalize_tag,
    parse_accept_language,
)

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"


def read(path: Path):
    with path.open("rb") as fp:
        return read_po(fp)


def test_template_is_up_to_date_with_the_code(tmp_path):
    fresh = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg",
                    "-k", "N_", "-k", "translate:2", "--no-location", "-o", str(fresh), "."], cwd=ROOT, check=True)
    wanted = {m.id for m in read(fresh) if m.id}
    have = {m.id for m in read(LOCALES / "messages.pot") if m.id}
    assert wanted == have, f"run the extract step of README 'Languages': new {wanted - have}, gone {have - wanted}"


@pytest.mark.parametrize("tag", [t for t in UI_LOCALES if t != "en"])
def test_every_catalog_translates_every_message(tag):
    template = {m.id for m in read(LOCALES / "messages.pot") if m.id}
    catalog = read(LOCALES / tag.replace("-", "_") / "LC_MESSAGES" / "messages.po")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy
                  and (all(m.string) if isinstance(m.string, tuple) else True)}
    missing = sorted(str(m) for m in template - translated)
    assert not missing, f"{tag} misses {len(missing)} messages, e.g. {missing[:5]}"


def test_catalogs_load_and_translate():
    i18n = I18n()
    assert i18n.translate("zh-Hant", "Sign in") != "Sign in"
    assert i18n.translate("ja", "Invalid input") != "Invalid input"
    assert i18n.translate("en", "Sign in") == "Sign in"


def test_tags_and_negotiation():
    assert normalize_tag("zh-hant-tw") == "zh-Hant-TW"
    assert normalize_tag("EN_us") == "en-US"
    with pytest.raises(Invalid):
        normalize_tag("not a tag")
    assert parse_accept_language("fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5, bogus tag;q=1") == ["fr-CH", "fr", "en"]
    assert match_tag("zh-TW", ["zh-Hans", "zh-Hant"]) == "zh-Hant"
    assert match_tag("zh-CN", ["zh-Hant", "zh-Hans"]) == "zh-Hans"
    assert match_tag("zh", ["zh-Hant"]) is None  # never serve Traditional to a plain zh reader
    assert match_tag("en-GB", ["en"]) == "en"
    assert fallback_chain(["fr", "en"], "zh-Hans", ["zh-Hans", "en"]) == "en"
    assert fallback_chain(["fr"], "zh-Hans", ["zh-Hans", "en"]) == "zh-Hans"
    assert fallback_chain(["fr"], "de", ["ja", "en"]) == "en"
    assert I18n().negotiate(None, "es-MX,es;q=0.9").ui == "es"


def test_cldr_formatting():
    moment = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    assert "2026" in I18n.format_datetime(moment, "zh-Hans", "Asia/Shanghai")
    assert "23:30" in I18n.format_datetime(moment, "fr", "Asia/Shanghai")
    assert I18n.format_number(12345.5, "fr").replace("\u202f", " ") == "12 345,5"
    assert I18n.language_name("ja", "zh-Hans") == "日语"
