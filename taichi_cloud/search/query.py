"""User text → query trees (two tiers), highlight targets and "did you mean".

Whatever a user types is text: only letter/digit runs survive :func:`analysis.segments`, so
quotes, ``field:`` syntax, wildcards and control characters cannot reach a backend parser.

* Tier 1 (exact): every term in a word field (title > summary > body), or the query's
  letters joined as one pinyin word (``chen jia gou`` → ``chenjiagou``).
* Tier 2 (only when tier 1 finds few): adds CJK bigrams/unigrams, pinyin syllables and Latin
  words one edit away; when that still finds few and there are three terms or more, one
  may be missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .analysis import (
    QUERY_STEM_LANGUAGES,
    analyze,
    grams,
    han_query_words,
    normalize,
    primary_language,
    segments,
    word_forms,
)
from .base import Bool, Node, Term, all_of, any_of
from .documents import FIELD_CLASSES, LOCALE_FIELD
from .vocabulary import Vocabulary

MAX_TERMS = 32
MAX_JOINED_PINYIN = 40
FEW_HITS = 10  # tier 2 runs when tier 1 finds fewer documents than this
CLASS_BOOST = {"title": 3.0, "summary": 1.5, "body": 1.0}
GRAM_FACTOR = 0.5
PINYIN_FACTOR = 0.6
FUZZY_FACTOR = 0.4
LOCALE_BOOST = 1.5


@dataclass(slots=True)
class QueryTerm:
    script: str  # "word" | "han" | "kana" | "hangul"
    text: str  # normalised (Han: folded to simplified)
    start: int  # span in the normalised query, for rewriting suggestions
    end: int
    forms: list[str] = field(default_factory=list)  # word-field alternatives
    required_words: list[str] = field(default_factory=list)  # Han: every jieba word
    grams: list[str] = field(default_factory=list)  # CJK grams (all required in tier 2)
    near: list[str] = field(default_factory=list)  # Latin words one edit away (tier 2)


@dataclass(slots=True)
class QueryPlan:
    text: str  # normalised query
    lang: str
    terms: list[QueryTerm]
    joined_pinyin: str | None

    @property
    def empty(self) -> bool:
        return not self.terms


def plan_query(text: str, lang: str, vocabulary: Vocabulary | None = None) -> QueryPlan:
    normalized = normalize(text)
    terms: list[QueryTerm] = []
    for seg in segments(text):
        if len(terms) >= MAX_TERMS:
            break
        term = QueryTerm(seg.script, seg.text, seg.start, seg.end)
        if seg.script == "word":
            forms = word_forms(seg.text, lang)
            for other in QUERY_STEM_LANGUAGES:
                forms.extend(word_forms(seg.text, other))
            term.forms = list(dict.fromkeys(forms))
            if vocabulary is not None and not vocabulary.knows(seg.text):
                term.near = vocabulary.near_words(seg.text)[:5]
        elif seg.script == "han":
            term.required_words = list(dict.fromkeys(han_query_words(seg.text)))
            term.forms = [seg.text]
            term.grams = _required_grams(seg.text)
        else:
            term.forms = [seg.text]
            term.grams = _required_grams(seg.text)
        terms.append(term)
    latin = [t.text for t in terms if t.script == "word"]
    joined = "".join(latin)
    joined_ok = (latin and len(latin) == len(terms) and joined.isascii() and joined.isalpha()
                 and len(joined) <= MAX_JOINED_PINYIN)
    return QueryPlan(normalized, lang, terms, joined if joined_ok else None)


def _required_grams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return list(dict.fromkeys(run[i:i + 2] for i in range(len(run) - 1)))


# --- trees -------------------------------------------------------------------------------

def _in_word_fields(value: str, factor: float = 1.0) -> list[Node]:
    return [Term(f"{c}_words", value, CLASS_BOOST[c] * factor) for c in FIELD_CLASSES]


def _in_fields(stream: str, value: str, factor: float) -> Node:
    # Bodies carry no pinyin (see documents.py): no need to ask.
    classes = FIELD_CLASSES[:2] if stream == "pinyin" else FIELD_CLASSES
    return any_of(Term(f"{c}_{stream}", value, CLASS_BOOST[c] * factor) for c in classes)


def _exact_clause(term: QueryTerm) -> Node:
    if term.script == "han" and term.required_words and term.required_words != [term.text]:
        return any_of([
            all_of(any_of(_in_word_fields(w)) for w in term.required_words),
            *_in_word_fields(term.text),
        ])
    return any_of(node for form in term.forms for node in _in_word_fields(form))


def _fallback_clause(term: QueryTerm) -> Node:
    options: list[Node] = [_exact_clause(term)]
    if term.script == "word":
        for near in term.near:
            options.extend(n for form in word_forms(near, "en") + [near]
                           for n in _in_word_fields(form, FUZZY_FACTOR))
        if term.text.isascii():
            options.append(_in_fields("pinyin", term.text, PINYIN_FACTOR))
    elif term.grams:
        options.append(all_of(_in_fields("grams", g, GRAM_FACTOR) for g in term.grams))
    return any_of(options)


def _joined_pinyin_clause(plan: QueryPlan) -> Node | None:
    if not plan.joined_pinyin or len(plan.terms) < 1:
        return None
    joined = plan.joined_pinyin
    if len(plan.terms) == 1:  # the word fields are asked by the term itself
        return _in_fields("pinyin", joined, PINYIN_FACTOR * 2)
    return any_of([_in_fields("pinyin", joined, PINYIN_FACTOR * 2),
                   *_in_word_fields(joined)])


def _with_locale_boost(node: Node, plan: QueryPlan) -> Node:
    prefix = primary_language(plan.lang)
    if not prefix:
        return node
    boosts = tuple(dict.fromkeys(
        Term(LOCALE_FIELD, f"{prefix}|{form}", LOCALE_BOOST)
        for term in plan.terms for form in (term.required_words or term.forms)))
    return Bool(must=(node,), should=boosts) if boosts else node


def exact_tree(plan: QueryPlan) -> Node:
    core = all_of(_exact_clause(t) for t in plan.terms)
    joined = _joined_pinyin_clause(plan)
    if joined is not None:
        core = any_of([core, joined])
    return _with_locale_boost(core, plan)


def fallback_tree(plan: QueryPlan, *, one_may_miss: bool = False) -> Node:
    """Tier 2: every term through its fallbacks; with ``one_may_miss`` (asked only when the
    strict form still finds few, and only for three terms or more) one term may be missing."""
    clauses = tuple(_fallback_clause(t) for t in plan.terms)
    core: Node
    if len(clauses) <= 2 or not one_may_miss:
        core = all_of(clauses)
    else:
        # One term may be missing, but documents that have them all count twice.
        core = Bool(must=(Bool(should=clauses, min_should=len(clauses) - 1),),
                    should=(all_of(clauses),))
    joined = _joined_pinyin_clause(plan)
    if joined is not None:
        core = any_of([core, joined])
    return _with_locale_boost(core, plan)


# --- did you mean ------------------------------------------------------------------------

def suggestion(plan: QueryPlan, vocabulary: Vocabulary) -> str | None:
    """The query with unknown words replaced by known neighbours, or None."""
    if plan.joined_pinyin and vocabulary.knows(plan.joined_pinyin):
        return None
    replacements: list[tuple[int, int, str]] = []
    for term in plan.terms:
        if term.script == "word":
            if term.near and not vocabulary.knows(term.text):
                replacements.append((term.start, term.end, term.near[0]))
        elif term.script == "han":
            fixed = _fix_han(term, vocabulary)
            if fixed != term.text:
                replacements.append((term.start, term.end, fixed))
    if not replacements:
        return None
    text = plan.text
    for start, end, value in sorted(replacements, reverse=True):
        text = text[:start] + value + text[end:]
    return " ".join(text.split())


def _fix_han(term: QueryTerm, vocabulary: Vocabulary) -> str:
    whole = vocabulary.homophone(term.text)
    if whole:
        return whole
    if term.text in vocabulary.han:
        return term.text
    fixed = []
    for word in term.required_words:
        fixed.append(vocabulary.homophone(word) or word)
    return "".join(fixed)


# --- highlight targets -------------------------------------------------------------------

@dataclass(slots=True)
class MarkTargets:
    latin: set[str]  # word forms that are marked where a text word has one of them
    cjk: set[str]  # folded CJK strings marked where they occur
    pinyin: set[str]  # joined pinyin marked over Han characters that spell it
    # The CJK targets up to MAX_MARKED_CJK characters, longest first: at each position the
    # longest target that occurs there wins, as a scan trying each length would find.
    cjk_pattern: re.Pattern[str] | None = None


MAX_MARKED_CJK = 16


def cjk_pattern(targets: set[str]) -> re.Pattern[str] | None:
    usable = sorted((t for t in targets if 0 < len(t) <= MAX_MARKED_CJK),
                    key=lambda t: (-len(t), t))
    return re.compile("|".join(map(re.escape, usable))) if usable else None


def mark_targets(plan: QueryPlan) -> MarkTargets:
    latin: set[str] = set()
    cjk: set[str] = set()
    pinyin: set[str] = set()
    for term in plan.terms:
        if term.script == "word":
            latin.update(term.forms)
            for near in term.near:
                latin.update(word_forms(near, "en"))
                latin.add(near)
            if term.text.isascii() and len(term.text) > 1:
                pinyin.add(term.text)
        else:
            cjk.add(term.text)
            cjk.update(w for w in term.required_words if len(w) > 1)
            cjk.update(g for g in grams(term.text) if len(g) > 1 or len(term.text) == 1)
    if plan.joined_pinyin:
        pinyin.add(plan.joined_pinyin)
    return MarkTargets(latin, cjk, pinyin, cjk_pattern(cjk))


__all__ = ["FEW_HITS", "MarkTargets", "QueryPlan", "QueryTerm", "analyze", "exact_tree",
           "fallback_tree", "mark_targets", "plan_query", "suggestion"]
