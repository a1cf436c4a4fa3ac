"""The backend interface: query/result types, a small query tree and the engine protocol.

A backend is an *engine* over one index directory; :class:`~.index.SearchIndex` owns the
directory layout (atomic swap), query planning, "did you mean", snippets and the cache, so
every backend behaves the same and only compiles the query tree to its native queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .documents import SearchDocument

FACETS = ("kind", "style", "level", "language", "has_subtitles")
MAX_PER_PAGE = 100
MAX_WINDOW = 1000  # page * per_page beyond this is refused (deep paging is not a use case)


class IndexUnavailable(Exception):
    """The index directory is missing or unreadable; it has to be rebuilt."""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str = ""
    lang: str = "en"
    kind: str | None = None
    style: str | None = None
    level: str | None = None
    language: str | None = None
    has_subtitles: bool | None = None
    page: int = 1
    per_page: int = 20
    visible_only: bool = True  # only published + public entries (callers decide)

    def filters(self) -> dict[str, str]:
        """Exact-match constraints on stored keyword fields."""
        out: dict[str, str] = {}
        for name in ("kind", "style", "level", "language"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.has_subtitles is not None:
            out["has_subtitles"] = "true" if self.has_subtitles else "false"
        if self.visible_only:
            out["status"] = "published"
            out["visibility"] = "public"
        return out


@dataclass(slots=True)
class SearchHit:
    id: str
    kind: str
    title: str
    snippet: str
    score: float
    start: float | None = None
    locale: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "title": self.title,
                               "snippet": self.snippet, "score": round(self.score, 4),
                               "locale": self.locale}
        if self.start is not None:
            out["start"] = self.start
        return out


@dataclass(slots=True)
class SearchResults:
    total: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    suggestion: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "hits": [h.to_json() for h in self.hits],
                "facets": self.facets, "suggestion": self.suggestion}


# --- the query tree engines compile ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Term:
    field: str
    value: str
    boost: float = 1.0


@dataclass(frozen=True, slots=True)
class MatchAll:
    pass


@dataclass(frozen=True, slots=True)
class Bool:
    """All of ``must``; at least ``min_should`` of ``should`` (0: they only add score)."""

    must: tuple[Node, ...] = ()
    should: tuple[Node, ...] = ()
    min_should: int = 0
    boost: float = 1.0


Node = Term | MatchAll | Bool


def any_of(nodes: Iterable[Node], boost: float = 1.0) -> Node:
    items = tuple(dict.fromkeys(nodes))
    if len(items) == 1 and boost == 1.0:
        return items[0]
    return Bool(should=items, min_should=1, boost=boost)


def all_of(nodes: Iterable[Node]) -> Node:
    items = tuple(nodes)
    return items[0] if len(items) == 1 else Bool(must=items)


@dataclass(slots=True)
class EngineResult:
    total: int
    hits: list[tuple[float, dict[str, Any]]]  # (score, stored values), best first
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


class Engine(Protocol):
    """One backend over one index directory. Writes come from one thread at a time;
    ``search`` may be called from many threads at once."""

    name: str

    @classmethod
    def create(cls, path: Path) -> Engine: ...

    @classmethod
    def open(cls, path: Path) -> Engine: ...  # raises IndexUnavailable

    def add(self, docs: Sequence[SearchDocument]) -> None: ...

    def delete_entries(self, entry_ids: Iterable[str]) -> None: ...

    def commit(self) -> None: ...

    def doc_count(self) -> int: ...

    def search(self, node: Node, filters: Mapping[str, str], offset: int, limit: int,
               with_facets: bool) -> EngineResult: ...

    def close(self) -> None: ...
