"""Catalog records → search documents: one per entry and one per chapter of a video."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .analysis import AnalyzedText, analyze, primary_language

# Weight classes, highest first; every class is indexed as three sub-fields (words, grams,
# pinyin) named "<class>_<stream>".
FIELD_CLASSES = ("title", "summary", "body")
STREAMS = ("words", "grams", "pinyin")
TEXT_FIELDS = tuple(f"{c}_{s}" for c in FIELD_CLASSES for s in STREAMS)
LOCALE_FIELD = "locale_words"  # "<primary language>|<word>": boosts matches in the request locale
MAX_STORED_TEXT = 4000  # characters of summary/body/captions kept for snippets


@dataclass(slots=True)
class SearchDocument:
    """What a backend indexes: analysed token streams plus the stored values of a hit."""

    doc_id: str
    entry_id: str
    kind: str
    status: str
    visibility: str
    style: str
    level: str
    languages: list[str]
    has_subtitles: bool
    source_locale: str
    titles: dict[str, str]
    texts: dict[str, str]  # per locale: the text a snippet is cut from
    extra_text: str  # captions, names, tags: snippet source when no locale text matches
    start: float | None = None  # chapters only
    tokens: dict[str, list[str]] = field(default_factory=dict)
    latin_vocabulary: list[str] = field(default_factory=list)
    han_vocabulary: list[str] = field(default_factory=list)

    @property
    def is_chapter(self) -> bool:
        return self.start is not None

    def stored(self) -> dict[str, Any]:
        """The values a hit is rendered from (JSON-serialisable)."""
        return {"doc_id": self.doc_id, "entry_id": self.entry_id, "kind": self.kind,
                "start": self.start, "source_locale": self.source_locale,
                "titles": self.titles, "texts": self.texts, "extra_text": self.extra_text}


class _Builder:
    """Collects analysed text per weight class for one document."""

    def __init__(self) -> None:
        self.streams: dict[str, AnalyzedText] = {c: AnalyzedText() for c in FIELD_CLASSES}
        self.locale_words: list[str] = []

    def add(self, weight_class: str, text: str, lang: str, *, locale_boost: bool = False) -> None:
        if not text or not text.strip():
            return
        analyzed = analyze(text, lang)
        self.streams[weight_class].extend(analyzed)
        if locale_boost and lang:
            prefix = primary_language(lang)
            self.locale_words.extend(f"{prefix}|{w}" for w in analyzed.words)

    def fill(self, doc: SearchDocument) -> SearchDocument:
        for weight_class, analyzed in self.streams.items():
            doc.tokens[f"{weight_class}_words"] = analyzed.words
            doc.tokens[f"{weight_class}_grams"] = analyzed.cjk_grams
            # Pinyin of long bodies is mostly noise and a third of their tokens: titles,
            # names and summaries carry what learners type in pinyin.
            doc.tokens[f"{weight_class}_pinyin"] = [] if weight_class == "body" else analyzed.pinyin
            doc.latin_vocabulary.extend(analyzed.latin_vocabulary)
            doc.han_vocabulary.extend(analyzed.han_vocabulary)
        doc.tokens[LOCALE_FIELD] = self.locale_words
        return doc


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_STORED_TEXT else text[:MAX_STORED_TEXT]


def pick_locale(values: Mapping[str, str], wanted: str, source_locale: str = "") -> str:
    """The key of ``values`` to show: wanted → same language → source locale → any."""
    present = [k for k, v in values.items() if v]
    if not present:
        return ""
    if wanted in present:
        return wanted
    primary = primary_language(wanted)
    for key in present:
        if primary and primary_language(key) == primary:
            return key
    if source_locale in present:
        return source_locale
    for key in present:
        if primary_language(key) == "en":
            return key
    return present[0]


def documents_for_record(record: Mapping[str, Any]) -> list[SearchDocument]:
    """The entry document and one document per chapter (videos)."""
    entry = _entry_document(record)
    chapters = [_chapter_document(record, entry, i, ch)
                for i, ch in enumerate(record.get("chapters") or [])]
    return [entry, *chapters]


def documents_for_records(records: Iterable[Mapping[str, Any]]) -> Iterator[SearchDocument]:
    for record in records:
        yield from documents_for_record(record)


def _base(record: Mapping[str, Any], doc_id: str, titles: dict[str, str],
          texts: dict[str, str], extra_text: str, start: float | None) -> SearchDocument:
    return SearchDocument(
        doc_id=doc_id, entry_id=_str(record.get("id")), kind=_str(record.get("kind")),
        status=_str(record.get("status")), visibility=_str(record.get("visibility")),
        style=_str(record.get("style")), level=_str(record.get("level")),
        languages=[_str(x) for x in record.get("languages") or [] if x],
        has_subtitles=bool(record.get("captions")),
        source_locale=_str(record.get("source_locale")),
        titles=titles, texts=texts, extra_text=extra_text, start=start)


def _entry_document(record: Mapping[str, Any]) -> SearchDocument:
    source = _str(record.get("source_locale"))
    translations: Mapping[str, Mapping[str, Any]] = record.get("translations") or {}
    names: Mapping[str, Any] = record.get("names") or {}
    aliases = [_str(a) for a in record.get("aliases") or [] if a]
    tags = [_str(t) for t in record.get("tags") or [] if t]
    dc: Mapping[str, Any] = record.get("dc") or {}
    captions = [c for c in record.get("captions") or [] if isinstance(c, Mapping)]
    builder = _Builder()
    titles: dict[str, str] = {}
    texts: dict[str, str] = {}
    for tag, tr in translations.items():
        title, summary, body = (_str(tr.get(k)) for k in ("title", "summary", "body"))
        builder.add("title", title, tag, locale_boost=True)
        builder.add("summary", summary, tag, locale_boost=True)
        builder.add("body", body, tag)
        if title:
            titles[tag] = title
        text = "\n".join(t for t in (summary, body) if t)
        if text:
            texts[tag] = _clip(text)
    for tag, name in names.items():
        builder.add("title", _str(name), tag, locale_boost=True)
        titles.setdefault(tag, _str(name))
    for alias in aliases:
        builder.add("title", alias, "")
    builder.add("summary", " ".join(tags), "en")
    for key in ("creator", "contributor", "coverage"):
        builder.add("summary", _str(dc.get(key)), source)
    for key in ("source", "publisher", "date"):
        builder.add("body", _str(dc.get(key)), source)
    for chapter in record.get("chapters") or []:
        for tag, text in (chapter.get("title") or {}).items():
            builder.add("summary", _str(text), tag)
    caption_texts = []
    for caption in captions:
        text = _str(caption.get("text"))
        builder.add("body", text, _str(caption.get("lang")))
        caption_texts.append(text)
    extra = " · ".join(x for x in (*[_str(n) for n in names.values()], *aliases,
                                   _str(dc.get("creator")), _str(dc.get("coverage")),
                                   " ".join(caption_texts)) if x)
    doc = _base(record, _str(record.get("id")), titles, texts, _clip(extra), None)
    return builder.fill(doc)


def _chapter_document(record: Mapping[str, Any], entry: SearchDocument, index: int,
                      chapter: Mapping[str, Any]) -> SearchDocument:
    chapter_titles = {k: _str(v) for k, v in (chapter.get("title") or {}).items() if v}
    builder = _Builder()
    for tag, text in chapter_titles.items():
        builder.add("title", text, tag, locale_boost=True)
    for tag, text in entry.titles.items():
        builder.add("summary", text, tag)
    titles: dict[str, str] = {}
    texts: dict[str, str] = {}
    for tag in dict.fromkeys([*chapter_titles, *entry.titles]):
        chapter_title = chapter_titles.get(tag) or chapter_titles.get(
            pick_locale(chapter_titles, tag, entry.source_locale), "")
        video_title = entry.titles.get(tag) or entry.titles.get(
            pick_locale(entry.titles, tag, entry.source_locale), "")
        titles[tag] = f"{video_title} · {chapter_title}" if video_title else chapter_title
        texts[tag] = chapter_title
    try:
        start = float(chapter.get("start") or 0.0)
    except (TypeError, ValueError):
        start = 0.0
    doc = _base(record, f"{entry.entry_id}#{index}", titles, texts, "", start)
    return builder.fill(doc)
