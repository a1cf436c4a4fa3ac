"""Snippets: HTML-escaped stored text with ``<mark>`` around what the query matched.

Marks are computed here, from the stored text and the analysed query, so they work the same
for every backend and for CJK (where backends' own highlighters see only grams).
"""

from __future__ import annotations

import html
import unicodedata
from functools import lru_cache

from .analysis import (
    QUERY_STEM_LANGUAGES,
    SEGMENT_PATTERN,
    fold_han,
    fold_latin,
    han_pinyin,
    word_forms,
)
from .query import MAX_MARKED_CJK as MAX_TARGET
from .query import MarkTargets

WINDOW = 180  # characters of text around the best cluster of marks
LEAD = 40  # characters shown before the first mark of the window


def _normalized_with_offsets(text: str) -> tuple[str, list[int]]:
    """Case-folded NFKC text and, per normalised character, its index in ``text``."""
    if text.isascii():
        return text.lower(), list(range(len(text)))
    whole = unicodedata.normalize("NFKC", text).casefold()
    if len(whole) == len(text):
        return whole, list(range(len(text)))
    out: list[str] = []
    offsets: list[int] = []
    for index, ch in enumerate(text):
        piece = unicodedata.normalize("NFKC", ch).casefold()
        out.append(piece)
        offsets.extend([index] * len(piece))
    return "".join(out), offsets


def _may_match(normalized: str, targets: MarkTargets) -> bool:
    """Cheap substring test: can any target occur in this text at all?"""
    if any(t in normalized for t in targets.cjk):
        return True
    if any(form[:3] in normalized for form in targets.latin):
        return True
    return bool(targets.pinyin) and any("\u3400" <= ch <= "\u9fff" for ch in normalized)


def find_marks(text: str, lang: str, targets: MarkTargets) -> list[tuple[int, int]]:
    """Merged (start, end) spans of ``text`` to mark."""
    normalized, offsets = _normalized_with_offsets(text)
    if not normalized or not _may_match(normalized, targets):
        return []
    spans: list[tuple[int, int]] = []
    longest = max((len(t) for t in targets.cjk), default=0)
    for match in SEGMENT_PATTERN.finditer(normalized):
        script = match.lastgroup
        start = match.start()
        if script == "word":
            if not _mark_forms(match.group(), lang).isdisjoint(targets.latin):
                spans.append((start, match.end()))
            continue
        run = fold_han(match.group()) if script == "han" else match.group()
        spans.extend((start + a, start + b)
                     for a, b in _cjk_spans(run, targets, script == "han", longest))
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    # Back to positions in the original text (end is exclusive: last char's index + 1).
    return [(offsets[a], offsets[b - 1] + 1) for a, b in merged]


@lru_cache(maxsize=131072)
def _mark_forms(raw: str, lang: str) -> frozenset[str]:
    """Every form a text word can be matched by: its stems in ``lang`` and the query
    languages (the query side adds the same ones)."""
    word = fold_latin(raw.replace("'", "").replace("’", ""))
    forms = set(word_forms(word, lang))
    for other in QUERY_STEM_LANGUAGES:
        forms.update(word_forms(word, other))
    return frozenset(forms)


@lru_cache(maxsize=32768)
def _char_pinyin(ch: str) -> str:
    # Per character (no word segmentation at query time): only highlighting depends on it.
    return han_pinyin(ch)[0].replace("v", "u") if ch else ""


def _cjk_spans(run: str, targets: MarkTargets, is_han: bool,
               longest: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    syllables: list[str] = []
    if is_han and targets.pinyin:
        syllables = [_char_pinyin(ch) for ch in run]
        joined = "".join(syllables)
        if not any(t in joined for t in targets.pinyin):
            syllables = []
    if not syllables:  # CJK targets only: one regular-expression scan
        pattern = targets.cjk_pattern
        return [m.span() for m in pattern.finditer(run)] if pattern is not None else []
    longest = min(longest, MAX_TARGET)
    i = 0
    while i < len(run):
        found = 0
        for k in range(min(longest, len(run) - i), 0, -1):
            if run[i:i + k] in targets.cjk:
                found = k
                break
        if not found and syllables:
            for k in range(min(8, len(run) - i), 1, -1):
                if "".join(syllables[i:i + k]) in targets.pinyin:
                    found = k
                    break
        if found:
            spans.append((i, i + found))
            i += found
        else:
            i += 1
    return spans


def _best_window(spans: list[tuple[int, int]], window: int) -> int:
    """Start of the window (``LEAD`` before a mark) that holds the most whole marks; the
    earliest such. Spans are sorted and disjoint, so ends rise with starts: one sweep."""
    best_start, best_count = 0, -1
    first = 0  # first span starting inside the window
    last = 0  # spans[:last] end inside the window
    for a, _ in spans:
        start = max(0, a - LEAD)
        while first < len(spans) and spans[first][0] < start:
            first += 1
        last = max(last, first)
        while last < len(spans) and spans[last][1] <= start + window:
            last += 1
        if last - first > best_count:
            best_start, best_count = start, last - first
    return best_start


def render(text: str, spans: list[tuple[int, int]], window: int = WINDOW) -> str:
    """The best window of ``text`` with marks, HTML-escaped."""
    if not spans:
        cut = text[:window]
        return html.escape(cut) + ("…" if len(text) > window else "")
    start = _best_window(spans, window)
    if start > 0:  # do not cut a word in half
        space = text.rfind(" ", max(0, start - 15), start)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + window)
    if end < len(text):
        space = text.find(" ", end, end + 15)
        end = space if space >= 0 else end
    out = ["…"] if start > 0 else []
    cursor = start
    for a, b in spans:
        if b <= start or a >= end:
            continue
        a, b = max(a, start), min(b, end)
        out.append(html.escape(text[cursor:a]))
        out.append(f"<mark>{html.escape(text[a:b])}</mark>")
        cursor = b
    out.append(html.escape(text[cursor:end]))
    if end < len(text):
        out.append("…")
    return " ".join("".join(out).split("\n")).strip()


def snippet(candidates: list[tuple[str, str]], targets: MarkTargets) -> str:
    """From ``[(text, lang), ...]`` (preferred first) the first text that has a match."""
    for text, lang in candidates:
        if not text:
            continue
        spans = find_marks(text, lang, targets)
        if spans:
            return render(text, spans)
    for text, _ in candidates:
        if text:
            return render(text, [])
    return ""
