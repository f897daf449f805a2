"""Search: what a record stores to be found, and what a query asks of it. No database."""

from __future__ import annotations

import pytest

from crm_es.projections.search import (
    CONTAINS,
    EXACT,
    FUZZY,
    GRAMS,
    PREFIX,
    cjk_grams,
    columns,
    like_escape,
    normalise,
    phone_digits,
    pinyin_initials,
    plan,
)

# Normalising ------------------------------------------------------------------------------------


def test_normalising_folds_full_width_letters_and_case_and_spaces() -> None:
    assert normalise("  Ｎｉｎｇｂｏ　SUNRISE \t 机械  ") == "ningbo sunrise 机械"


def test_normalising_nothing_gives_an_empty_text() -> None:
    assert normalise(None) == "" and normalise("   ") == ""


@pytest.mark.parametrize(
    ("phone", "digits"),
    [("0574-63012345", "057463012345"), ("+86 138 0574 1234", "8613805741234"), ("(0574)8765 4321", "057487654321"),
     ("０５７４－６３０１", "05746301"), (None, "")],
)  # fmt: skip
def test_phone_numbers_keep_their_digits_only(phone: str | None, digits: str) -> None:
    assert phone_digits(phone) == digits


def test_grams_are_every_chinese_character_and_every_adjacent_pair() -> None:
    assert cjk_grams(["宁波慈穗"]) == {"宁", "波", "慈", "穗", "宁波", "波慈", "慈穗"}


def test_grams_do_not_pair_characters_across_latin_text_or_texts() -> None:
    assert cjk_grams(["宁波abc贸易", "王丽"]) == {"宁", "波", "宁波", "贸", "易", "贸易", "王", "丽", "王丽"}


@pytest.mark.parametrize(
    ("name", "initials"),
    [("宁波慈穗贸业有限公司", "nbcsmyyxgs"), ("重庆重工机械有限公司", "cqzgjxyxgs"), ("长沙银行", "csyh"),
     ("厦门行业协会", "xmhyxh"), ("3m中国有限公司", "3mzgyxgs"), ("宁波abc贸易", "nbabcmy"),
     ("ningbo sunrise machinery co., ltd.", "nsmcl")],
)  # fmt: skip
def test_pinyin_initials_follow_the_words_reading(name: str, initials: str) -> None:
    assert pinyin_initials(name) == initials


def test_pinyin_initials_agree_with_pypinyin_on_a_sample_of_names() -> None:
    from pypinyin import Style, lazy_pinyin

    names = ["杭州恒泰纺织有限公司", "宁波银行股份有限公司", "重庆长安汽车", "单县朝阳食品厂", "曾经沧海建材", "行健会计师事务所",
             "长江实业集团", "乐清市正泰电器", "朝阳区长安街", "广州番禺区信达物流"]  # fmt: skip
    for name in names:
        expected = "".join(p[0] for p in lazy_pinyin(name, style=Style.FIRST_LETTER))
        assert pinyin_initials(name) == expected, name


def test_a_records_columns_hold_its_names_initials_phones_and_contacts() -> None:
    values = columns(
        "宁波慈穗贸业有限公司", short_name="慈穗", phones=["0574-63012345", "13805741234", None], names=["王丽", None]
    )
    assert values["search_name"] == "宁波慈穗贸业有限公司"
    assert values["search_short"] == "慈穗"
    assert values["search_initials"] == "nbcsmyyxgs"
    grams = values["search_grams"].split(" ")
    assert {"慈穗", "穗", "王丽"} <= set(grams) and grams == sorted(grams)  # the same whoever writes it
    assert values["search_text"] == " 宁波慈穗贸业有限公司 慈穗 nbcsmyyxgs 057463012345 13805741234 王丽 "
    assert values["search_latin"] == " nbcsmyyxgs "


def test_the_latin_text_keeps_latin_words_and_digits_without_chinese() -> None:
    values = columns("宁波abc贸易 2024", names=["John 王"], phones=["+86 138"])
    assert values["search_latin"] == " abc 2024 john nbabcmy2024 "


def test_initials_kept_by_the_caller_are_not_computed_again() -> None:
    assert columns("宁波慈穗贸业有限公司", initials="kept")["search_initials"] == "kept"


def test_a_record_without_short_name_has_an_empty_one() -> None:
    assert columns("宁波慈穗贸业有限公司")["search_short"] == ""


# Querying ---------------------------------------------------------------------------------------


def tiers(q: str) -> list[int]:
    return [arm.tier for arm in plan(q)]


def test_a_blank_query_plans_nothing() -> None:
    assert plan("   ") == []


@pytest.mark.parametrize("q", ["慈", "慈穗", "慈穗贸"])
def test_chinese_queries_run_exact_prefix_and_contains(q: str) -> None:
    assert tiers(q)[:3] == [EXACT, PREFIX, CONTAINS]


def test_one_or_two_chinese_characters_are_matched_by_their_gram_alone() -> None:
    one, two = plan("慈")[CONTAINS], plan("慈穗")[CONTAINS]
    assert one.condition.startswith(f"({GRAMS} @> %s)") and one.params[0] == ["慈"]
    assert two.condition.startswith(f"({GRAMS} @> %s)") and two.params[0] == ["慈穗"]
    assert "strpos" not in one.condition.split(" AND NOT ")[0] and "strpos" not in two.condition.split(" AND NOT ")[0]


def test_three_chinese_characters_need_their_pairs_and_the_whole_phrase() -> None:
    contains = plan("慈穗贸")[CONTAINS]
    assert contains.condition.startswith(f"({GRAMS} @> %s AND strpos(search_text, %s) > 0)")
    assert contains.params[:2] == (["慈穗", "穗贸"], "慈穗贸")


def test_three_chinese_characters_also_match_fuzzily_on_every_character() -> None:
    fuzzy = plan("宁波慈穗")[FUZZY]
    assert fuzzy.condition.startswith(f"({GRAMS} @> %s)") and fuzzy.params[0] == ["宁", "慈", "波", "穗"]


def test_two_chinese_characters_have_no_fuzzy_tier() -> None:
    assert tiers("慈穗") == [EXACT, PREFIX, CONTAINS]


def test_pinyin_initials_are_matched_by_prefix() -> None:
    prefix = plan("nbcs")[PREFIX]
    assert "search_initials LIKE %s" in prefix.condition and "nbcs%" in prefix.params


def test_short_latin_or_digit_queries_match_exact_and_prefix_only() -> None:
    assert tiers("ni") == [EXACT, PREFIX]
    assert tiers("57") == [EXACT, PREFIX]


def test_a_phone_fragment_is_searched_by_its_digits_with_or_without_separators() -> None:
    for q in ("0574-6301", "0574 6301", "(0574)6301", "05746301"):
        arms = plan(q)
        assert [a.tier for a in arms] == [EXACT, PREFIX, CONTAINS], q
        grams = ["0574", "4630", "5746", "6301", "7463"]
        assert arms[EXACT].params[-2:] == (" 05746301 ", grams)  # whole: spaces around
        assert arms[CONTAINS].params[:2] == (grams, "05746301")
        assert arms[CONTAINS].condition.startswith(f"({GRAMS} @> %s AND strpos(search_text, %s) > 0)")


def test_four_digits_are_matched_by_their_gram_and_three_by_walking() -> None:
    assert plan("6301")[CONTAINS].condition.startswith(f"({GRAMS} @> %s) AND NOT")
    three = plan("630")
    assert [a.tier for a in three] == [EXACT, PREFIX, CONTAINS]
    assert three[CONTAINS].condition.startswith("(strpos(search_text, %s) > 0) AND NOT")
    assert not three[CONTAINS].indexed and three[PREFIX].indexed


def test_phone_numbers_and_digits_in_names_leave_four_digit_grams() -> None:
    grams = columns("宁波2024贸易", phones=["0574-6301"])["search_grams"].split(" ")
    assert {"2024", "0574", "5746", "7463", "4630", "6301"} <= set(grams)
    assert "057" not in grams and "202" not in grams


def test_a_latin_name_matches_fuzzily_word_by_word() -> None:
    fuzzy = plan("Sunrsie Machinery")[FUZZY]
    assert fuzzy.similarity
    assert fuzzy.condition.startswith("(%s <%% search_latin AND %s <%% search_latin)")
    assert fuzzy.params[:2] == ("sunrsie", "machinery")


def test_short_latin_words_are_not_matched_fuzzily() -> None:
    assert FUZZY not in tiers("nbcs")
    fuzzy = plan("abc sunrsie")[FUZZY]
    assert fuzzy.condition.startswith("(search_latin LIKE %s AND %s <%% search_latin)")


def test_tiers_leave_out_the_rows_of_better_tiers_checked_without_index() -> None:
    fuzzy = plan("宁波慈穗")[FUZZY]
    exclusions = fuzzy.condition.split(" AND NOT ", 1)[1]
    assert GRAMS not in exclusions and "strpos(search_text, %s) > 0" in exclusions
    assert fuzzy.check is not None and GRAMS not in fuzzy.check


def test_each_tier_excludes_the_rows_of_the_tiers_before_it() -> None:
    exact, prefix, contains, fuzzy = plan("sunrise machinery")
    assert "NOT" not in exact.condition
    assert prefix.condition.count("AND NOT") == 1
    assert contains.condition.count("AND NOT") == 2
    assert fuzzy.condition.count("AND NOT") == 3
    for arm in (exact, prefix, contains, fuzzy):
        assert arm.condition.count("%s") == len(arm.params)


def test_like_wildcards_in_a_query_are_literal() -> None:
    assert plan("%")[PREFIX].params[:2] == ("\\%%", "\\%%")
    assert plan("_")[PREFIX].params[:2] == ("\\_%", "\\_%")
    assert plan("50%_off")[CONTAINS].params[0] == "%50\\%\\_off%"


def test_escaping_doubles_backslashes_and_escapes_wildcards() -> None:
    assert like_escape("50%_off\\") == "50\\%\\_off\\\\"


def test_words_with_digits_and_other_characters_are_searched_in_the_latin_text() -> None:
    assert plan("100%_")[CONTAINS].params[0] == "%100\\%\\_%"
    assert plan("no.123")[CONTAINS].condition.startswith("(search_latin LIKE %s)")


def test_phone_digits_go_straight_to_the_index_and_words_glance_first() -> None:
    assert not plan("0574-6301")[CONTAINS].glance
    assert plan("630")[CONTAINS].glance and plan("慈穗")[CONTAINS].glance and plan("sunrise")[CONTAINS].glance
