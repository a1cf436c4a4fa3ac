"""The one analysis pipeline: normalisation, folding, stems, CJK words + grams, pinyin."""

from __future__ import annotations

import subprocess
import sys

from taichi_cloud.search.analysis import analyze, fold_han, joined_pinyin, normalize
from taichi_cloud.search.query import plan_query


def test_nfkc_casefold_and_accents():
    assert analyze("Ｔａｉ　Ｃｈｉ").words == ["tai", "chi"]
    assert "taijiquan" in analyze("Tàijíquán", "en").words
    assert analyze("Straße").words[0] == "strasse"
    assert "epee" in analyze("Épée", "fr").words
    assert normalize("a\x00b\x1bc") == "a b c"


def test_stems_per_language_keep_the_word_too():
    words = analyze("pushing hands", "en").words
    assert {"pushing", "push", "hands", "hand"} <= set(words)
    french = analyze("épées", "fr").words
    assert set(analyze("épée", "fr").words) & set(french)
    spanish = analyze("manos", "es").words
    assert "manos" in spanish and "man" in spanish


def test_japanese_and_traditional_fold_to_simplified():
    assert fold_han("簡化太極拳") == "简化太极拳"
    assert fold_han("剣発単") == "剑发单"
    assert fold_han("陳家溝") == "陈家沟"
    japanese = analyze("簡化太極拳", "ja")
    simplified = analyze("简化太极拳", "zh-Hans")
    assert japanese.words == simplified.words
    assert japanese.cjk_grams == simplified.cjk_grams


def test_han_words_grams_and_pinyin():
    analyzed = analyze("陈家沟太极拳", "zh-Hans")
    assert {"陈家沟", "太极", "太极拳"} <= set(analyzed.words)
    assert {"陈", "沟", "陈家", "家沟", "太极", "极拳"} <= set(analyzed.cjk_grams)
    assert {"chen", "jia", "gou", "chenjiagou", "taiji", "taijiquan"} <= set(analyzed.pinyin)
    assert joined_pinyin("太极拳") == "taijiquan"
    assert "lu" in analyze("绿", "zh").pinyin  # ü is typed as u (and v)


def test_korean_and_kana_become_grams():
    analyzed = analyze("태극권 ひらがな", "ko")
    assert {"태극", "극권", "태", "권"} <= set(analyzed.cjk_grams)
    assert {"ひら", "がな"} <= set(analyzed.cjk_grams)


def test_queries_take_the_same_path():
    plan = plan_query("chen jia gou", "en")
    assert plan.joined_pinyin == "chenjiagou"
    plan = plan_query('"簡化太極拳" title:foo* (((', "ja")
    assert [t.text for t in plan.terms] == ["简化太极拳", "title", "foo"]
    assert plan_query("*** ??? \x00", "en").empty


def test_jieba_loads_only_for_han_text():
    code = ("import sys; from taichi_cloud.search.analysis import analyze; "
            "analyze('push hands Épée 태극권', 'en'); assert 'jieba' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
