"""The index's vocabulary: typo expansion and "did you mean" for every backend.

Latin words are found within one edit (insertion, deletion, substitution or transposition of
neighbours) with a symmetric-delete index, so ``swrod`` meets ``sword`` in O(word length).
Han words are looked up by their tone-less pinyin, so 陈家勾 meets 陈家沟.
The vocabulary is saved beside the index (``vocabulary.json``) on every commit.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from .analysis import joined_pinyin
from .documents import SearchDocument

FILE_NAME = "vocabulary.json"
MIN_TYPO_LENGTH = 4  # shorter words are too ambiguous to correct


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))} | {word}


def within_one_edit(a: str, b: str) -> bool:
    """Optimal-string-alignment distance ≤ 1."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


class Vocabulary:
    def __init__(self) -> None:
        self.latin: Counter[str] = Counter()
        self.han: Counter[str] = Counter()
        self.pinyin: set[str] = set()
        self._han_by_pinyin: dict[str, Counter[str]] = defaultdict(Counter)
        self._delete_index: dict[str, set[str]] = defaultdict(set)
        # The writer thread adds while search threads look up.
        self._lock = threading.Lock()

    # --- building ---------------------------------------------------------------------
    def add_documents(self, docs: Iterable[SearchDocument]) -> None:
        with self._lock:
            self._add_documents(docs)

    def _add_documents(self, docs: Iterable[SearchDocument]) -> None:
        for doc in docs:
            for word in doc.latin_vocabulary:
                self.add_latin(word)
            for word in doc.han_vocabulary:
                self.add_han(word)
            for field_name, tokens in doc.tokens.items():
                if field_name.endswith("_pinyin"):
                    self.pinyin.update(tokens)

    def add_latin(self, word: str, count: int = 1) -> None:
        if word not in self.latin and len(word) >= MIN_TYPO_LENGTH - 1 and word.isalpha():
            for variant in _deletes(word):
                self._delete_index[variant].add(word)
        self.latin[word] += count

    def add_han(self, word: str, count: int = 1) -> None:
        self.han[word] += count
        self._han_by_pinyin[joined_pinyin(word)][word] += count

    # --- lookups ----------------------------------------------------------------------
    def knows(self, word: str) -> bool:
        return word in self.latin or word in self.pinyin or word in self.han

    def near_words(self, word: str) -> list[str]:
        """Known Latin words within one edit of ``word``, most frequent first."""
        if len(word) < MIN_TYPO_LENGTH or not word.isalpha():
            return []
        candidates: set[str] = set()
        with self._lock:
            for variant in _deletes(word):
                candidates.update(self._delete_index.get(variant, ()))
            counts = {c: self.latin[c] for c in candidates}
        found = [c for c in candidates if c != word and within_one_edit(word, c)]
        return sorted(found, key=lambda c: (-counts[c], c))

    def homophone(self, han: str) -> str | None:
        """The most frequent known Han word that sounds like ``han`` (None if ``han`` is known)."""
        if han in self.han or len(han) < 2:
            return None
        key = joined_pinyin(han)
        with self._lock:
            options = dict(self._han_by_pinyin.get(key) or {})
        if not options:
            return None
        best = max(options.items(), key=lambda kv: (kv[1], kv[0]))[0]
        return best if best != han else None

    # --- persistence ------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        with self._lock:
            data = {"latin": dict(self.latin), "han": dict(self.han),
                    "pinyin": sorted(self.pinyin)}
        tmp = directory / (FILE_NAME + ".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, directory / FILE_NAME)

    @classmethod
    def load(cls, directory: Path) -> Vocabulary:
        vocabulary = cls()
        path = directory / FILE_NAME
        if not path.exists():
            return vocabulary
        data = json.loads(path.read_text(encoding="utf-8"))
        for word, count in data.get("latin", {}).items():
            vocabulary.add_latin(str(word), int(count))
        for word, count in data.get("han", {}).items():
            vocabulary.add_han(str(word), int(count))
        vocabulary.pinyin.update(str(p) for p in data.get("pinyin", []))
        return vocabulary
