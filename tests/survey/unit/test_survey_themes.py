"""Feedback themes on a fixed corpus of Chinese and English comments (``domain.themes``)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.survey.domain.themes import (Comment, ConfigError, analyse, default_config,
                                           parse_config, terms)

START = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)

# (comment, NPS answer, score)
CORPUS = [
    ("物流太慢了，等了一个星期", 2, "20.00"),
    ("快递包装破损，物流需要改进", 3, "30.00"),
    ("发货速度太慢", 4, "40.00"),
    ("物流信息不更新", 5, "45.00"),
    ("快递员态度差", 6, "50.00"),
    ("物流还可以，价格偏高", 8, "70.00"),
    ("价格很合理，质量稳定", 9, "90.00"),
    ("价格有点贵", 6, "55.00"),
    ("价格透明，我们很满意", 10, "95.00"),
    ("价格比较便宜", 9, "85.00"),
    ("The support team answered quickly", 10, "100.00"),
    ("Support was very helpful", 9, "90.00"),
    ("Great support, but the invoice was wrong", 7, "70.00"),
    ("Support solved it in a day", 10, "95.00"),
    ("Friendly support and a clear invoice", 9, "90.00"),
    ("客服不回消息", 0, "0.00"),
    ("客服电话打不通", 1, "10.00"),
    ("客服很专业", 9, "90.00"),
    ("客服响应慢", 3, "30.00"),
    ("   ", 0, None),
]


def corpus() -> list[Comment]:
    return [Comment(response_id=f"r{index:02d}", text=text, language="en" if text.isascii() else "zh-CN",
                    submitted_at=START + timedelta(hours=index), nps=nps,
                    score=None if score is None else Decimal(score))
            for index, (text, nps, score) in enumerate(CORPUS)]


@pytest.fixture(scope="module")
def found():
    return analyse(corpus(), default_config())


def by_theme(found) -> dict:
    return {item["theme"]: item for item in found["items"]}


def test_the_top_themes_are_the_most_mentioned(found):
    assert found["responses_with_text"] == 19  # the blank comment is not counted
    top = [(item["theme"], item["mentions"]) for item in found["items"][:4]]
    # equal mentions in the order of the theme's text: "support" before "价格"
    assert top == [("物流", 6), ("support", 5), ("价格", 5), ("客服", 4)]


def test_synonyms_merge_into_one_theme(found):
    logistics = by_theme(found)["物流"]
    assert logistics["terms"] == ["发货", "快递", "物流"]
    themes = by_theme(found)
    assert "快递" not in themes and "发货" not in themes


def test_stop_words_and_one_character_words_are_dropped(found):
    themes = by_theme(found)
    for dropped in ("我们", "满意", "the", "was", "very", "but", "a", "慢", "了", "贵"):
        assert dropped not in themes
    assert "invoice" in themes and themes["invoice"]["mentions"] == 2


def test_a_theme_carries_share_score_nps_and_the_newest_examples(found):
    logistics = by_theme(found)["物流"]
    # six of 19 responses with text; scores 20, 30, 40, 45, 50, 70; NPS answers 2 3 4 5 6 8
    assert logistics["share"] == Decimal("31.58")
    assert logistics["score_mean"] == Decimal("42.50")
    assert logistics["nps"] == Decimal("-83.33")
    assert [example["response_id"] for example in logistics["examples"]] == ["r05", "r04", "r03"]
    assert logistics["examples"][0]["text"] == "物流还可以，价格偏高"


def test_detractor_drivers_have_five_mentions_and_come_lowest_nps_first(found):
    drivers = [(item["theme"], item["nps"]) for item in found["detractor_drivers"]]
    # 物流 −83.33; 价格 (9, 9, 10 promoters, 6 detractor, 8 passive) 40; support 80.
    # 客服 (NPS −50) has only four mentions.
    assert drivers == [("物流", Decimal("-83.33")), ("价格", Decimal("40.00")),
                       ("support", Decimal("80.00"))]


def test_the_same_comments_give_the_same_themes_in_any_order():
    assert analyse(list(reversed(corpus())), default_config()) == analyse(corpus(), default_config())


def test_the_organisation_extends_stop_words_and_synonyms():
    config = parse_config("""
        # our own words
        [stop_words]
        invoice, 态度
        [synonyms]
        support: helpful
        客服： 电话
    """)
    assert terms("Support was helpful about the invoice", config) == [("support", "support"),
                                                                      ("support", "helpful")]
    assert terms("客服电话打不通，态度差", config) == [("客服", "客服"), ("客服", "电话"),
                                                     ("不通", "不通")]
    assert ("物流", "快递") in terms("快递很慢", config)  # the shipped map is kept


@pytest.mark.parametrize("text", ["[colours]\nred", "stray line", "[synonyms]\nno colon here"])
def test_a_configuration_file_that_cannot_be_read_says_which_line(text):
    with pytest.raises(ConfigError, match="line"):
        parse_config(text)


def test_chinese_and_english_in_one_comment_are_cut_apart():
    assert terms("Support物流太慢, don’t re-order 2026", default_config()) == [
        ("support", "support"), ("物流", "物流"), ("太慢", "太慢"), ("re-order", "re-order")]


def test_the_themes_file_named_by_the_environment_extends_the_configuration(tmp_path):
    from services.survey.themes import THEMES_FILE, config_from_env
    path = tmp_path / "themes.txt"
    path.write_text("[synonyms]\n物流: 仓库\n", encoding="utf-8")
    assert config_from_env({THEMES_FILE: str(path)}).synonyms["仓库"] == "物流"
    assert "仓库" not in config_from_env({}).synonyms
    path.write_text("[synonyms]\n仓库\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="line 2"):
        config_from_env({THEMES_FILE: str(path)})
    with pytest.raises(SystemExit, match="cannot read"):
        config_from_env({THEMES_FILE: str(tmp_path / "missing.txt")})
