"""Search benchmark: whoosh vs tantivy vs SQLite FTS5 on synthetic multilingual catalogs.

    .venv/bin/python bench/search.py                 # 10k and 100k documents
    .venv/bin/python bench/search.py --sizes 10000   # quicker

Catalogs mix Chinese, English, Spanish, French, Japanese and Korean records, videos with
chapters (every chapter is a document of its own). The analysis pipeline runs once per size
and its time is charged to every backend's build rate ("analysis included"). Latency is the
whole ``SearchIndex.search`` (planning, two tiers, facets, snippets) with the result cache
off, over a fixed mix of narrow, broad, faceted and typo queries. FTS5 gets the same tokens
(one-tier AND query + GROUP BY facets), as the baseline an SQL database gives for free.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from taichi_cloud.search.base import SearchQuery  # noqa: E402
from taichi_cloud.search.documents import SearchDocument, documents_for_record  # noqa: E402
from taichi_cloud.search.index import SearchIndex  # noqa: E402
from taichi_cloud.search.query import plan_query  # noqa: E402

ZH = ("太极拳 推手 陈式 杨式 孙式 武式 套路 老架 新架 一路 二路 单鞭 云手 白鹤亮翅 揽雀尾 练习 基本功 "
      "教学 传统 内功 站桩 呼吸 放松 陈家沟 剑法 刀法 太极扇 缠丝劲 发劲 弓步 虚步 起势 收势 拳谱 师父 "
      "弟子 传承 历史 文化 遗产 口述 照片 文献 比赛 表演 养生").split()
JA = "太極拳 推手 基本 練習 初心者 の ため を 伝統 剣 套路 呼吸 解説 歴史 写真 講座 入門 です".split()
KO = "태극권 추수 기본 연습 초보자 전통 검법 호흡 역사 사진 강좌 입문 동작 수련".split()
EN = ("tai chi taijiquan form push hands sword fan beginner routine traditional breathing "
      "relaxation stance history master student lineage village practice lesson old frame new "
      "cannon fist silk reeling energy weapon oral archive photo document competition health").split()
ES = ("taichi forma empuje manos espada abanico principiante rutina tradicional respiración "
      "relajación postura historia maestro alumno linaje práctica lección").split()
FR = ("taichi forme poussée mains épée éventail débutant enchaînement traditionnel respiration "
      "détente posture histoire maître élève lignée pratique leçon").split()
SURNAMES = "陈杨武孙吴李王张刘赵郝马冯朱".replace("", " ").split()
GIVEN = "发科长兴露禅澄甫禄堂鉴泉清平鑫耕耘延熙班侯健侯禹襄亦畬为真福生小旺正雷".replace("", " ").split()
LANGS = {"zh-Hans": ZH, "ja": JA, "ko": KO, "en": EN, "es": ES, "fr": FR}
KINDS = ("video", "video", "video", "archive", "person", "collection")
STYLES = ("chen", "yang", "wu-hao", "wu", "sun", "general")
LEVELS = ("beginner", "intermediate", "advanced")


def _text(rng: random.Random, lang: str, words: int) -> str:
    vocab = LANGS[lang]
    picked = [rng.choice(vocab) for _ in range(words)]
    if lang in ("zh-Hans", "ja"):
        return "".join(picked)
    if rng.random() < 0.3:  # invented words keep the vocabulary growing, as real text does
        picked.append("".join(rng.choice("bcdfghjklmnpqrstvwxyz") + rng.choice("aeiou")
                              for _ in range(3)))
    return " ".join(picked)


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)


def synthetic_records(target_docs: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    docs = 0
    i = 0
    while docs < target_docs:
        kind = rng.choice(KINDS)
        source = rng.choice(list(LANGS))
        langs = [source, *rng.sample([lang for lang in LANGS if lang != source], rng.randint(0, 2))]
        name = _name(rng)
        translations = {lang: {"title": f"{_text(rng, lang, 4)} {name if lang != 'en' else ''}".strip(),
                               "summary": _text(rng, lang, 14), "body": _text(rng, lang, 30)}
                        for lang in langs}
        chapters = []
        if kind == "video":
            start = 0.0
            for _ in range(rng.randint(0, 4)):
                chapters.append({"start": start, "end": start + 20,
                                 "title": {lang: _text(rng, lang, 2) for lang in langs}})
                start += 20
        docs += 1 + len(chapters)
        i += 1
        yield {"id": f"r{i}", "kind": kind, "status": "published", "visibility": "public",
               "source_locale": source, "style": rng.choice(STYLES),
               "level": rng.choice(LEVELS) if kind == "video" else "",
               "tags": rng.sample(EN, 3), "languages": [source] if kind == "video" else [],
               "translations": translations, "chapters": chapters, "people": [], "dc": {},
               "names": {"zh-Hans": name} if kind == "person" else {}, "aliases": [],
               "captions": [{"lang": source, "text": _text(rng, source, 20)}]
               if kind == "video" and rng.random() < 0.3 else [],
               "created_at": "", "updated_at": ""}


QUERY_MIX: list[tuple[str, SearchQuery]] = [
    *[("narrow", SearchQuery(q, lang=lang)) for q, lang in (
        ("陈发科", "zh-Hans"), ("缠丝劲 发劲", "zh-Hans"), ("silk reeling", "en"),
        ("éventail", "fr"), ("검법", "ko"), ("剣", "ja"), ("chan si jin", "en"),
        ("abanico principiante", "es"))],
    *[("broad", SearchQuery(q, lang=lang)) for q, lang in (
        ("太极拳", "zh-Hans"), ("太極拳", "ja"), ("tai chi", "en"), ("taijiquan", "en"),
        ("推手", "zh-Hans"), ("forme", "fr"), ("태극권", "ko"), ("practice", "en"))],
    *[("faceted", SearchQuery(q, lang="en", kind=kind, style=style, level=level)) for q, kind, style, level in (
        ("太极拳", "video", "chen", None), ("push hands", "video", None, "beginner"),
        ("history", "archive", None, None), ("sword", None, "yang", None),
        ("太极拳", "person", "sun", None), ("taichi", "video", "wu", "advanced"),
        ("練習", None, "general", None), ("maître", "person", None, None))],
    *[("typo", SearchQuery(q, lang="en")) for q in (
        "tai chi swrod", "taijiqaun", "breathnig", "lineaeg master", "陈家勾", "pracitce",
        "relaxatoin", "hsitory")],
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_backend(backend: str, docs: list[SearchDocument], analysis_s: float, work: Path,
                  rounds: int) -> dict[str, Any]:
    index = SearchIndex(work / backend, backend, cache_size=0)
    started = time.perf_counter()
    index.rebuild_from_documents(docs)
    build_s = time.perf_counter() - started
    latencies: dict[str, list[float]] = {}
    for _ in range(rounds):
        for group, query in QUERY_MIX:
            t = time.perf_counter()
            index.search(query)
            latencies.setdefault(group, []).append((time.perf_counter() - t) * 1000)
    size = directory_size(work / backend)
    index.close()
    return _row(backend, len(docs), analysis_s, build_s, size, latencies)


def _row(name: str, n: int, analysis_s: float, build_s: float, size: int,
         latencies: dict[str, list[float]]) -> dict[str, Any]:
    every = [v for values in latencies.values() for v in values]
    return {"backend": name, "docs": n, "rate": n / (analysis_s + build_s), "index_rate": n / build_s,
            "size_mb": size / 1e6, "p50": statistics.median(every), "p95": percentile(every, 0.95),
            **{f"p95_{g}": percentile(v, 0.95) for g, v in latencies.items()}}


def bench_fts5(docs: list[SearchDocument], analysis_s: float, work: Path, rounds: int) -> dict[str, Any]:
    path = work / "fts5.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE VIRTUAL TABLE fts USING fts5(title, summary, body, tokenize="unicode61 remove_diacritics 0");
        CREATE TABLE meta(rowid INTEGER PRIMARY KEY, doc_id TEXT, kind TEXT, style TEXT, level TEXT);
    """)
    started = time.perf_counter()

    def column(doc: SearchDocument, cls: str) -> str:
        return " ".join(" ".join(doc.tokens.get(f"{cls}_{s}", [])) for s in ("words", "grams", "pinyin"))

    with db:
        for rowid, doc in enumerate(docs, 1):
            db.execute("INSERT INTO fts(rowid, title, summary, body) VALUES (?, ?, ?, ?)",
                       (rowid, column(doc, "title"), column(doc, "summary"), column(doc, "body")))
            db.execute("INSERT INTO meta VALUES (?, ?, ?, ?, ?)",
                       (rowid, doc.doc_id, doc.kind, doc.style, doc.level))
    build_s = time.perf_counter() - started
    latencies: dict[str, list[float]] = {}
    for _ in range(rounds):
        for group, query in QUERY_MIX:
            t = time.perf_counter()
            _fts5_search(db, query)
            latencies.setdefault(group, []).append((time.perf_counter() - t) * 1000)
    db.close()
    return _row("sqlite-fts5", len(docs), analysis_s, build_s, path.stat().st_size, latencies)


def _fts5_search(db: sqlite3.Connection, query: SearchQuery) -> None:
    plan = plan_query(query.text, query.lang)
    if plan.empty:
        return
    # The exact tier only: each term's word forms OR'ed, terms AND'ed.
    clauses = []
    for term in plan.terms:
        forms = term.required_words or term.forms
        quoted = " OR ".join('"' + f.replace('"', '""') + '"' for f in forms)
        clauses.append(f"({quoted})")
    match = " AND ".join(clauses)
    where = ["fts MATCH ?"]
    params: list[Any] = [match]
    for name in ("kind", "style", "level"):
        value = getattr(query, name)
        if value:
            where.append(f"meta.{name} = ?")
            params.append(value)
    sql_where = " AND ".join(where)
    db.execute(f"SELECT meta.doc_id, bm25(fts, 3.0, 1.5, 1.0) AS s FROM fts JOIN meta ON "  # noqa: S608
               f"meta.rowid = fts.rowid WHERE {sql_where} ORDER BY s LIMIT 20", params).fetchall()
    for name in ("kind", "style", "level"):
        db.execute(f"SELECT meta.{name}, count(*) FROM fts JOIN meta ON meta.rowid = fts.rowid "  # noqa: S608
                   f"WHERE {sql_where} GROUP BY meta.{name}", params).fetchall()


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ("| backend | docs | build docs/s (analysis incl.) | index only docs/s | size MB | "
            "p50 ms | p95 ms | p95 narrow | p95 broad | p95 faceted | p95 typo |")
    print(head)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backend']} | {r['docs']:,} | {r['rate']:,.0f} | {r['index_rate']:,.0f} | "
              f"{r['size_mb']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p95_narrow']:.1f} | "
              f"{r['p95_broad']:.1f} | {r['p95_faceted']:.1f} | {r['p95_typo']:.1f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="document counts, comma-separated")
    parser.add_argument("--backends", default="whoosh,tantivy,sqlite-fts5")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the query mix")
    parser.add_argument("--whoosh-max", type=int, default=20000,
                        help="skip whoosh above this size (it indexes ~150-300 docs/s)")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    rows = []
    work = Path(tempfile.mkdtemp(prefix="search-bench-"))
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            started = time.perf_counter()
            docs = [d for r in synthetic_records(size) for d in documents_for_record(r)]
            analysis_s = time.perf_counter() - started
            print(f"{size:,} documents analysed in {analysis_s:.1f} s "
                  f"({len(docs) / analysis_s:,.0f} docs/s)", file=sys.stderr)
            target = work / str(size)
            target.mkdir(parents=True, exist_ok=True)
            runners: dict[str, Callable[[], dict[str, Any]]] = {
                "whoosh": partial(bench_backend, "whoosh", docs, analysis_s, target, args.rounds),
                "tantivy": partial(bench_backend, "tantivy", docs, analysis_s, target, args.rounds),
                "sqlite-fts5": partial(bench_fts5, docs, analysis_s, target, args.rounds),
            }
            for name in backends:
                if name == "whoosh" and size > args.whoosh_max:
                    print(f"  whoosh: skipped above {args.whoosh_max:,} (--whoosh-max)",
                          file=sys.stderr)
                    continue
                started = time.perf_counter()
                rows.append(runners[name]())
                print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
