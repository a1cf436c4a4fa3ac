"""The one analysis pipeline: every backend indexes its output and every query goes through it.

Text is NFKC-normalised and case-folded, then split into script runs:

* Latin (and other alphabetic) words are accent-folded and emitted with their stem for the
  text's language (both forms, so queries in another locale still meet the unstemmed word);
* Han runs are folded Japanese → traditional → simplified (OpenCC ``jp2t`` then ``t2s``), cut
  into jieba words (search mode, so 太极 and 太极拳 are both words) *and* character
  unigrams + bigrams (jieba alone misses unsegmented text), and transliterated to tone-less
  pinyin, per syllable (``chen``, ``jia``, ``gou``) and joined per word (``chenjiagou``);
* kana and Hangul runs become character unigrams + bigrams (plus the whole run as a word).
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

# Han ideographs (BMP + extension planes) and the iteration mark 々.
_HAN = "\u3005\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_CJK = _HAN + _KANA + _HANGUL
# A word: letters/digits outside the CJK ranges, apostrophes inside words are dropped (t'ai).
SEGMENT_PATTERN = re.compile(
    rf"(?P<han>[{_HAN}]+)|(?P<kana>[{_KANA}ー]+)|(?P<hangul>[{_HANGUL}]+)"
    rf"|(?P<word>(?:(?![{_CJK}])[^\W_])+(?:['’](?:(?![{_CJK}])[^\W_])+)*)"
)
_APOSTROPHES = str.maketrans("", "", "'’")
# Letters that do not decompose under NFD but are folded by readers all the same.
_LATIN_EXTRA = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ł": "l", "ı": "i",
                              "þ": "th", "ð": "d", "ħ": "h"})
# Languages whose stemmer a query also tries, whatever the request locale (the catalog is
# written mostly in these).
QUERY_STEM_LANGUAGES = ("en",)
MAX_PINYIN_WORD = 8  # longest Han word (characters) whose joined pinyin is emitted


class Segment(NamedTuple):
    """One script run of normalised text, with its position in the normalised string."""

    script: str  # "han" | "kana" | "hangul" | "word"
    text: str  # normalised (and for Han: folded to simplified) text
    start: int
    end: int


@dataclass(slots=True)
class AnalyzedText:
    """Token streams per sub-field; backends index each in its own field."""

    words: list[str] = field(default_factory=list)
    cjk_grams: list[str] = field(default_factory=list)
    pinyin: list[str] = field(default_factory=list)
    # Surface words for "did you mean": folded Latin words and Han words.
    latin_vocabulary: list[str] = field(default_factory=list)
    han_vocabulary: list[str] = field(default_factory=list)

    def extend(self, other: AnalyzedText) -> None:
        self.words.extend(other.words)
        self.cjk_grams.extend(other.cjk_grams)
        self.pinyin.extend(other.pinyin)
        self.latin_vocabulary.extend(other.latin_vocabulary)
        self.han_vocabulary.extend(other.han_vocabulary)


# --- normalisation -----------------------------------------------------------------------

# Control, format, surrogate and private-use characters (Cc, Cf, Cs, Co) become spaces.
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\uf8ff\U000f0000-\U0010ffff]")


def normalize(text: str) -> str:
    """NFKC + case folding, control characters replaced by spaces."""
    if text.isascii():
        return _INVISIBLE.sub(" ", text.lower())
    return _INVISIBLE.sub(" ", unicodedata.normalize("NFKC", text).casefold())


@lru_cache(maxsize=65536)
def fold_latin(word: str) -> str:
    """Strip accents from a (case-folded) word: ``tàijíquán`` → ``taijiquan``."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFD", word.translate(_LATIN_EXTRA))
    return unicodedata.normalize(
        "NFC", "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn"))


_opencc_lock = threading.Lock()
_opencc: list[Any] = []


def _converters() -> list[Any]:
    # The C++ converters are created once per process (loading a config reads dictionaries).
    if not _opencc:
        with _opencc_lock:
            if not _opencc:
                import opencc

                _opencc.extend([opencc.OpenCC("jp2t"), opencc.OpenCC("t2s")])
    return _opencc


def fold_han(text: str) -> str:
    """Japanese forms → traditional → simplified, keeping the length (one char per char)."""
    jp2t, t2s = _converters()
    folded: str = t2s.convert(jp2t.convert(text))
    if len(folded) == len(text):
        return folded
    return "".join(t2s.convert(jp2t.convert(ch)) or ch for ch in text)


# --- lazy heavy helpers ------------------------------------------------------------------

_jieba_lock = threading.Lock()
_jieba: list[Any] = []


def _jieba_module() -> Any:
    # jieba costs ~0.8 s and ~80 MB on first use: load it only when Han text shows up.
    if not _jieba:
        with _jieba_lock:
            if not _jieba:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba.append(jieba)
    return _jieba[0]


@lru_cache(maxsize=32768)
def han_query_words(run: str) -> tuple[str, ...]:
    """jieba precise-mode words of a (folded) Han run (a query needs each of them)."""
    return tuple(w for w in _jieba_module().cut(run, HMM=True) if w.strip())


@lru_cache(maxsize=65536)
def _search_words(word: str) -> tuple[str, ...]:
    # What jieba's cut_for_search adds to a precise-mode word: its dictionary bigrams and
    # trigrams (so 太极拳 also yields 太极), computed once per word instead of once per run.
    if len(word) <= 2:
        return (word,)
    freq = _jieba_module().dt.FREQ
    out = [word[i:i + 2] for i in range(len(word) - 1) if freq.get(word[i:i + 2])]
    if len(word) > 3:
        out.extend(word[i:i + 3] for i in range(len(word) - 2) if freq.get(word[i:i + 3]))
    out.append(word)
    return tuple(out)


def han_words(run: str) -> tuple[str, ...]:
    """jieba search-mode words of a (folded) Han run: 太极拳 → 太极, 太极拳."""
    return tuple(dict.fromkeys(w for word in han_query_words(run) for w in _search_words(word)))


@lru_cache(maxsize=65536)
def _word_pinyin(word: str) -> tuple[str, ...]:
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(word, style=Style.NORMAL)
    if len(syllables) != len(word):  # pypinyin keeps unknown characters whole: never zip blindly
        syllables = [lazy_pinyin(ch, style=Style.NORMAL)[0] for ch in word]
    return tuple(s.lower() for s in syllables)


def han_pinyin(run: str) -> tuple[str, ...]:
    """Tone-less pinyin, one syllable per character (ü as ``v``), read word by word so
    polyphonic characters take the reading of their word (长兴 chang, 长老 zhang)."""
    return tuple(s for word in han_query_words(run) for s in _word_pinyin(word))


def _pinyin_variants(syllable: str) -> tuple[str, ...]:
    return (syllable, syllable.replace("v", "u")) if "v" in syllable else (syllable,)


@lru_cache(maxsize=64)
def _stemmer(lang: str) -> Callable[[str], str] | None:
    from whoosh.lang import has_stemmer, stemmer_for_language

    primary = primary_language(lang)
    if not primary or not has_stemmer(primary):
        return None
    stem: Callable[[str], str] = stemmer_for_language(primary)
    return stem


@lru_cache(maxsize=131072)
def stem(word: str, lang: str) -> str:
    """The stem of an already case-folded word, accent-folded (``word`` if no stemmer)."""
    stemmer = _stemmer(lang)
    if stemmer is None or not word.isalpha():
        return fold_latin(word)
    try:
        return fold_latin(stemmer(word)) or fold_latin(word)
    except Exception:  # a snowball stemmer on an odd script: keep the word
        return fold_latin(word)


def primary_language(tag: str) -> str:
    return tag.split("-", 1)[0].split("_", 1)[0].lower() if tag else ""


# --- segmentation ------------------------------------------------------------------------

def segments(text: str) -> Iterator[Segment]:
    """Script runs of ``normalize(text)``; Han runs already folded to simplified."""
    normalized = normalize(text)
    for match in SEGMENT_PATTERN.finditer(normalized):
        script = match.lastgroup or "word"
        value = match.group()
        if script == "han":
            value = fold_han(value)
        elif script == "word":
            value = fold_latin(value.translate(_APOSTROPHES))
        yield Segment(script, value, match.start(), match.end())


def grams(run: str) -> list[str]:
    """Character unigrams and bigrams of a CJK run."""
    out = list(run)
    out.extend(run[i:i + 2] for i in range(len(run) - 1))
    return out


def word_forms(word: str, lang: str) -> list[str]:
    """A folded Latin word and its stem in ``lang`` (deduplicated, word first)."""
    forms = [word]
    stemmed = stem(word, lang)
    if stemmed != word:
        forms.append(stemmed)
    return forms


def analyze(text: str, lang: str = "") -> AnalyzedText:
    """Analyse ``text`` written in ``lang`` (a BCP 47 tag, may be empty) into token streams."""
    out = AnalyzedText()
    words, grams_out, vocabulary = out.words, out.cjk_grams, out.latin_vocabulary
    for match in SEGMENT_PATTERN.finditer(normalize(text)):
        script = match.lastgroup
        if script == "word":
            folded, forms = _latin_tokens(match.group(), lang)
            words.extend(forms)
            vocabulary.append(folded)
        elif script == "han":
            _analyze_han(fold_han(match.group()), out)
        else:  # kana, hangul
            run = match.group()
            words.append(run)
            grams_out.extend(grams(run))
    return out


@lru_cache(maxsize=131072)
def _latin_tokens(raw: str, lang: str) -> tuple[str, tuple[str, ...]]:
    # Per distinct (word, language): the folded word and its forms, computed once.
    folded = fold_latin(raw.translate(_APOSTROPHES))
    return folded, tuple(word_forms(folded, lang))


@lru_cache(maxsize=65536)
def _han_word_tokens(word: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Per distinct jieba word: (search words, pinyin syllables incl. ü variants, joined
    pinyin of its search words), so a run costs one jieba cut plus dictionary look-ups."""
    search = _search_words(word)
    syllables = tuple(v for s in _word_pinyin(word) for v in _pinyin_variants(s))
    joined = tuple(joined_pinyin(w) for w in search if 1 < len(w) <= MAX_PINYIN_WORD)
    return search, syllables, joined


def _analyze_han(run: str, out: AnalyzedText) -> None:
    words: dict[str, None] = {}
    joined: dict[str, None] = {}
    pinyin = out.pinyin
    for word in han_query_words(run):
        search, syllables, word_joined = _han_word_tokens(word)
        words.update(dict.fromkeys(search))
        pinyin.extend(syllables)
        joined.update(dict.fromkeys(word_joined))
    out.words.extend(words)
    out.han_vocabulary.extend(w for w in words if len(w) > 1)
    out.cjk_grams.extend(grams(run))
    pinyin.extend(joined)
    if 1 < len(run) <= MAX_PINYIN_WORD and run not in words:
        pinyin.append(joined_pinyin(run))


@lru_cache(maxsize=65536)
def joined_pinyin(han: str) -> str:
    """陈家沟 → ``chenjiagou`` (ü written ``u``, as learners type it)."""
    return "".join(han_pinyin(han)).replace("v", "u")
