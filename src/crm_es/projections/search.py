"""Search ``q`` over a read model's records, index-backed for every shape of query.

A record's searchable texts become a few columns (``columns``), written by its projection; a
query becomes one SQL condition per ranked tier (``plan``), and ``page`` runs the tiers in
order until a page is full, each LIMITed and newest first. So a character found in nearly
every name (公, 司) costs a walk down the newest rows, not a ranking of all of them.

Tiers, best first; newest first within a tier:

0. exact: the name or the short name is ``q``; a whole phone number is the digits of ``q``;
1. prefix: the name, the short name or the name's pinyin initials start with ``q``;
2. contains: every word of ``q`` is part of the name, short name, initials, a phone number
   or another name (contacts'): Chinese through character unigrams and bigrams (GIN on
   ``search_grams``), Latin letters and digits of three or more through pg_trgm (GIN on
   ``search_latin``, the record's text without Chinese);
3. fuzzy: Latin words of five letters or more similar to a word of the record (pg_trgm's
   ``<%``, word similarity of at least ``SIMILARITY``), the other words contained; Chinese
   of three or more characters whose every character the record has, in any order.

Latin and digit queries of one or two characters match exact and prefix only: no index can
answer "contains" for them cheaply, and they would match most records anyway. Phone-like
queries (digits, spaces, ``+-()``) are searched by their digits.

A table that uses this has ``id`` and ``created_at`` columns, the columns of ``DDL`` and the
indexes of ``indexes(schema, table)``. Texts are compared normalised (``normalise``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from psycopg import Cursor

from crm_es.projections.paging import Page, decode_cursor, encode_cursor

SIMILARITY = 0.4
"""Word similarity (pg_trgm) at which a Latin query matches a record it is not contained in:
two letters swapped in a nine-letter word score 0.43 (Jaccard over trigrams)."""

EXACT, PREFIX, CONTAINS, FUZZY = range(4)

DDL = """
    search_name text COLLATE "C" NOT NULL DEFAULT '',
    search_short text COLLATE "C" NOT NULL DEFAULT '',
    search_initials text COLLATE "C" NOT NULL DEFAULT '',
    search_grams text COLLATE "C" NOT NULL DEFAULT '',  -- space-separated; indexed as GRAMS
    search_text text NOT NULL DEFAULT '',
    search_latin text NOT NULL DEFAULT ''
"""
"""The search columns, for a table's CREATE TABLE: name, short name and initials (byte order,
"C", lets a plain btree answer ``LIKE 'prefix%'`` and keeps PostgreSQL's estimates for
prefixes close to the truth); the Chinese grams; everything, to check rows against
(``strpos``); everything but Chinese, for the trigram index (Chinese there would triple its
size and build time, and the grams answer Chinese anyway)."""

GRAMS = "string_to_array(search_grams, ' ')"
"""The grams as an array, as the GIN index holds them (a text column is written much faster
than an array by COPY from Python)."""

COLUMNS = ("search_name", "search_short", "search_initials", "search_grams", "search_text", "search_latin")
TYPES = {"search_name": "text", "search_short": "text", "search_initials": "text",
         "search_grams": "text", "search_text": "text", "search_latin": "text"}  # fmt: skip
"""Column types, for binary COPY."""


def indexes(schema: str, table: str) -> str:
    """The indexes the tiers use (``{s}`` stands for the schema, as in projections' DDL)."""
    return f"""
    CREATE INDEX {table}_search_name ON {schema}.{table} (search_name);
    CREATE INDEX {table}_search_short ON {schema}.{table} (search_short);
    CREATE INDEX {table}_search_initials ON {schema}.{table} (search_initials);
    CREATE INDEX {table}_search_grams ON {schema}.{table} USING gin ({GRAMS});
    CREATE INDEX {table}_search_latin ON {schema}.{table} USING gin (search_latin gin_trgm_ops);
    """


# Normalising ------------------------------------------------------------------------------------

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")
_NOT_DIGIT = re.compile(r"[^0-9]+")
_PHONE_QUERY = re.compile(r"\+?[0-9\s\-()]+")
_WORD3 = re.compile(r"[^\W_]{3}")
_INITIALS = re.compile(r"[a-z0-9]+")
_DIGITS4 = re.compile(r"[0-9]{4,}")
_FUZZY_WORD = re.compile(r"[a-z]{5,}")
"""Latin words that may match with a typo: shorter ones have too few trigrams to tell a typo
from another word (and pinyin initials such as nbcs are short)."""


def normalise(text: str | None) -> str:
    """NFKC (full-width letters and digits become ASCII), lower case, single spaces."""
    if not text:
        return ""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def phone_digits(text: str | None) -> str:
    """The digits of a phone number: ``0574-6301 2345`` → ``057463012345``."""
    return _NOT_DIGIT.sub("", unicodedata.normalize("NFKC", text)) if text else ""


def cjk_grams(texts: Iterable[str]) -> set[str]:
    """Every Chinese character and every pair of adjacent ones in the (normalised) texts."""
    grams: set[str] = set()
    for text in texts:
        for run in _CJK.findall(text):
            grams.update(run)
            grams.update(map(str.__add__, run, run[1:]))
    return grams


@cache
def _pinyin_tables() -> tuple[dict[str, str], frozenset[str], frozenset[str], int]:
    """The first letter of each character's usual reading; the words that read a character
    otherwise (重庆 is chongqing, not zhongqing); their first two characters; the longest."""
    from pypinyin.phrases_dict import phrases_dict
    from pypinyin.pinyin_dict import pinyin_dict

    def first_letter(reading: str) -> str:
        return unicodedata.normalize("NFKD", reading)[0].lower()

    table = {chr(code): first_letter(readings.split(",", 1)[0]) for code, readings in pinyin_dict.items()}
    words = {
        phrase
        for phrase, readings in phrases_dict.items()
        if any(c in table and first_letter(r[0]) != table[c] for c, r in zip(phrase, readings))
    }
    return table, frozenset(words), frozenset(w[:2] for w in words), max(map(len, words))


def pinyin_initials(name: str) -> str:
    """The first letters of the pinyin of the (normalised) name's characters, with its Latin
    letters and digits: 宁波慈穗贸业有限公司 → nbcsmyyxgs, 3m中国 → 3mzg; other characters are
    dropped. A name without Chinese gives the first letter of each word: ningbo sunrise
    machinery co., ltd. → nsmcl.

    The same as pypinyin's ``lazy_pinyin(name, Style.FIRST_LETTER)``, which segments the name
    into words: a per-character table gives that answer directly unless the name holds a word
    that reads a character otherwise (重庆, 银行), and only those few names go through pypinyin
    (a table lookup costs a few microseconds per name, pypinyin tens)."""
    if _CJK.search(name) is None:
        return "".join(word[0] for word in _INITIALS.findall(name))
    table, words, starts, longest = _pinyin_tables()
    if _has_word(name, words, starts, longest):
        from pypinyin import Style, lazy_pinyin

        parts = lazy_pinyin(name, style=Style.FIRST_LETTER, errors=lambda text: list(text))
        return "".join(p for part in parts for p in _INITIALS.findall(part.lower()))
    out = []
    for char in name:
        letter = table.get(char)
        if letter is not None:
            out.append(letter)
        elif "a" <= char <= "z" or "0" <= char <= "9":
            out.append(char)
    return "".join(out)


def _has_word(name: str, words: frozenset[str], starts: frozenset[str], longest: int) -> bool:
    for i in range(len(name) - 1):
        if name[i : i + 2] in starts and any(name[i:j] in words for j in range(i + 2, min(len(name), i + longest) + 1)):
            return True
    return False


def columns(
    name: str,
    *,
    short_name: str | None = None,
    phones: Iterable[str | None] = (),
    names: Iterable[str | None] = (),
    initials: str | None = None,
) -> dict[str, Any]:
    """The search columns of a record: its name and short name, its phone numbers and other
    names that should find it (its contacts'). ``initials``: the name's pinyin initials when
    the caller kept them (they cost the most to compute)."""
    name_key, short_key = normalise(name), normalise(short_name)
    if initials is None:
        initials = pinyin_initials(name_key)
    others = [n for n in map(normalise, names) if n]
    digits = [d for d in map(phone_digits, phones) if d]
    texts = [name_key, short_key, *others]
    latin = " ".join(_CJK.sub(" ", " ".join(texts)).split())
    grams = cjk_grams(texts)
    for run in (*digits, *_DIGITS4.findall(latin)):
        grams.update([run[i : i + 4] for i in range(len(run) - 3)])
    return {
        "search_name": name_key,
        "search_short": short_key,
        "search_initials": initials,
        "search_grams": " ".join(sorted(grams)),  # sorted: the same row whichever process wrote it
        # Spaces around every word, the first and last included: ' 0574… ' is a whole number.
        "search_text": " " + " ".join(t for t in (name_key, short_key, initials, *digits, *others) if t) + " ",
        "search_latin": " " + " ".join(t for t in (latin, initials) if t) + " ",
    }


# Querying ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    """One tier of a search: the rows it adds (a condition that excludes better tiers)."""

    tier: int
    condition: str
    params: tuple[Any, ...]
    similarity: bool = False
    """Uses ``<%``, whose threshold is the pg_trgm.word_similarity_threshold setting."""
    check: str | None = None
    """The same condition without index (``strpos``), cheaper on rows a walk reads."""
    check_params: tuple[Any, ...] = ()
    indexed: bool = True
    """False: no index finds the rows (three digits, each in a few percent of the phone
    numbers); the tier walks the newest rows."""
    glance: bool = True
    """Look at the newest rows first: the words may be in most records (not so four digits
    or more, each in well under 1% of them)."""


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def plan(q: str) -> list[Arm]:
    """The tiers a search for ``q`` runs, best first; empty when ``q`` normalises to nothing."""
    text = normalise(q)
    if not text:
        return []
    digits = phone_digits(text) if _PHONE_QUERY.fullmatch(text) else ""
    phone = len(digits) >= 3
    words = [digits] if phone else text.split()
    # tier, its condition (index-backed) and parameters, the same as a check of a row (cheap,
    # no index) and parameters, whether it measures similarity
    tiers: list[tuple[int, str, list[Any], str, list[Any], bool]] = []
    walk_only = False

    named, named_params = "search_name = %s OR search_short = %s", [text, text]
    exact, exact_params, exact_check, exact_check_params = named, list(named_params), named, list(named_params)
    if len(digits) >= 5:  # a phone number: its four-digit grams find it, spaces make it whole
        exact += f" OR (strpos(search_text, %s) > 0 AND {GRAMS} @> %s)"  # the cheap test first
        exact_params += [f" {digits} ", digit_grams(digits)]
        exact_check += " OR strpos(search_text, %s) > 0"
        exact_check_params += [f" {digits} "]
    tiers.append((EXACT, exact, exact_params, exact_check, exact_check_params, False))
    pattern = like_escape(text) + "%"
    prefix, prefix_params = "search_name LIKE %s OR search_short LIKE %s", [pattern, pattern]
    if _INITIALS.fullmatch(text):
        prefix += " OR search_initials LIKE %s"
        prefix_params.append(pattern)
    tiers.append((PREFIX, prefix, prefix_params, prefix, prefix_params, False))

    contains = _contains(words)
    if contains is None and phone:  # three digits: in so many phone numbers that a walk finds them
        contains, walk_only = ([_IN_TEXT], [digits]), True
    if contains is not None:
        # Every word is a part of the text: what the indexed conditions find, checked directly.
        tiers.append((CONTAINS, _and(contains[0]), contains[1], _and([_IN_TEXT] * len(words)), list(words), False))
        chars = sorted({c for run in _CJK.findall(text) for c in run})
        if len(chars) >= 3:
            tiers.append((FUZZY, f"{GRAMS} @> %s", [chars], _and([_IN_TEXT] * len(chars)), chars, False))
        elif not chars and not phone:
            fuzzy = _contains(words, fuzzy=True)
            if fuzzy is not None:
                tiers.append((FUZZY, _and(fuzzy[0]), fuzzy[1], _and(fuzzy[0]), fuzzy[1], True))

    # Each tier leaves out the rows of the tiers before it, checked row by row.
    arms: list[Arm] = []
    better = ""
    better_params: list[Any] = []
    for tier, condition, params, check, check_params, similarity in tiers:
        arms.append(Arm(
            tier, f"({condition}){better}", (*params, *better_params), similarity,
            f"({check}){better}" if tier >= CONTAINS else None, (*check_params, *better_params),
            indexed=not (walk_only and tier == CONTAINS), glance=len(digits) < 4,
        ))  # fmt: skip
        better += f" AND NOT ({check})"
        better_params += check_params
    return arms


_IN_TEXT = "strpos(search_text, %s) > 0"


def _and(conditions: list[str]) -> str:
    return " AND ".join(f"({c})" if " OR " in c else c for c in conditions)


def _contains(words: list[str], *, fuzzy: bool = False) -> tuple[list[str], list[Any]] | None:
    """Every word is part of the record (``fuzzy``: Latin words of five letters or more are
    similar to a word of it, the others part of it); None when no index finds the candidates."""
    conditions: list[str] = []
    params: list[Any] = []
    indexed = similar = False
    for word in words:
        if fuzzy and _FUZZY_WORD.fullmatch(word):
            conditions.append("%s <%% search_latin")
            params.append(word)
            indexed = similar = True
            continue
        if _CJK.search(word):
            conditions.append(f"{GRAMS} @> %s")
            params.append(_query_grams(word))
            indexed = True
            if _CJK.fullmatch(word) and len(word) <= 2:
                continue  # the gram itself is the match
        elif word.isascii() and word.isdigit() and len(word) >= 4:
            conditions.append(f"{GRAMS} @> %s")
            params.append(digit_grams(word))
            indexed = True
            if len(word) == 4:
                continue  # the gram itself is the match
        elif _WORD3.search(word) and not word.isdigit():  # phone digits are in the grams only
            conditions.append("search_latin LIKE %s")
            params.append(f"%{like_escape(word)}%")
            indexed = True
            continue
        conditions.append("strpos(search_text, %s) > 0")  # checks candidates; uses no index
        params.append(word)
    return (conditions, params) if indexed and (similar or not fuzzy) else None


def digit_grams(digits: str) -> list[str]:
    """The four-digit grams of a record holding ``digits`` (four or more) in a row."""
    return sorted({digits[i : i + 4] for i in range(len(digits) - 3)})


def _query_grams(word: str) -> list[str]:
    """The grams a record containing ``word`` must have: a lone character, or the pairs."""
    grams: set[str] = set()
    for run in _CJK.findall(word):
        grams.update([run] if len(run) == 1 else (run[i : i + 2] for i in range(len(run) - 1)))
    return sorted(grams)


Trace = list[tuple[str, list[Any], int, str]]
"""Statements a search ran: SQL, parameters, rows, the planner settings it ran with."""

GLANCE = 300
"""Newest rows (within the filters) a contains tier looks at first: enough for words in most
records, and a sample of how frequent they are."""

PROBE = 1000
"""Matches a contains or fuzzy tier collects through its index before it decides that its words
are frequent (see _tier_rows). Sorting m matches costs about m rows; walking the newest rows
until 21 match costs about 21 × n / m of n rows: at 100,000 rows they meet near 1,450."""

PLANS = {
    "planner": "SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = on; SET LOCAL enable_bitmapscan = on",
    "index": "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = on",
    "walk": "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on; SET LOCAL enable_bitmapscan = off",
}


def page(
    cur: Cursor[Any],
    *,
    table: str,
    columns: Sequence[str],
    filters: Sequence[str],
    params: Sequence[Any],
    q: str,
    limit: int,
    cursor: str | None,
    trace: Trace | None = None,
) -> Page:
    """The page of ``table``'s rows matching ``q`` (and ``filters``), best tier first, newest
    first within a tier; the cursor holds (tier, created_at, id) of the last row. ``trace``
    collects the statements run (for EXPLAIN).

    ``cur``'s connection must be in autocommit mode (the reader's are): a tier that changes
    planner settings does so with SET LOCAL in a transaction of its own."""
    after = None
    if cursor:
        tier, created_at, row_id = decode_cursor(cursor, "search", _tier, _aware, UUID)
        after = (tier, created_at, row_id)
    found: list[tuple[int, dict[str, Any]]] = []
    arms = [arm for arm in plan(q) if after is None or arm.tier >= after[0]]

    def keyset(arm: Arm) -> tuple[str, list[Any]] | None:
        if after is not None and arm.tier == after[0]:
            return "(created_at, id) < (%s, %s)", [after[1], after[2]]
        return None

    named = [arm for arm in arms if arm.tier < CONTAINS]
    contains = next((arm for arm in arms if arm.tier == CONTAINS and arm.glance), None)
    glanced: list[dict[str, Any]] | None = None
    if named:  # btree-backed, well estimated: one statement for them all, and the glance
        glance = _glance(table, columns, filters, params, keyset(contains), contains, limit + 1) if contains else None
        rows = _named_rows(cur, table, columns, filters, params, [(a, keyset(a)) for a in named], glance, limit + 1, trace)
        found += [(tier, row) for tier, row in rows if tier < CONTAINS]
        glanced = [row for tier, row in rows if tier == CONTAINS] if contains else None
    for arm in arms:
        if len(found) > limit:
            break
        if arm.tier >= CONTAINS:
            rows = _tier_rows(
                cur, table, columns, filters, params, keyset(arm), arm, limit + 1 - len(found), trace,
                glanced if arm is contains else None,
            )  # fmt: skip
            found += [(arm.tier, row) for row in rows]
    next_cursor = None
    if len(found) > limit:
        found = found[:limit]
        tier, last = found[-1]
        next_cursor = encode_cursor("search", [tier, last["created_at"].isoformat(), str(last["id"])])
    return Page([row for _, row in found], next_cursor)


def _named_rows(
    cur: Cursor[Any], table: str, columns: Sequence[str], filters: Sequence[str], params: Sequence[Any],
    arms: list[tuple[Arm, tuple[str, list[Any]] | None]], glance: tuple[str, list[Any]] | None, limit: int,
    trace: Trace | None,
) -> list[tuple[int, dict[str, Any]]]:  # fmt: skip
    """The newest ``limit`` rows of each of the exact and prefix tiers, and what the contains
    tier's glance finds (tier CONTAINS), in one statement."""
    select = ", ".join(columns)
    parts, args = [], []
    for arm, keyset in arms:
        where, arm_args = _where(filters, params, keyset, arm)
        parts.append(f"(SELECT {select}, {arm.tier:d} AS tier FROM {table} WHERE {where} "
                     f"ORDER BY created_at DESC, id DESC LIMIT {limit:d})")  # fmt: skip
        args += arm_args
    if glance is not None:
        parts.append(f"(SELECT *, {CONTAINS:d} AS tier FROM ({glance[0]}) glance)")
        args += glance[1]
    rows = _run(cur, " UNION ALL ".join(parts), args, trace)
    rows.sort(key=lambda row: (row["created_at"], row["id"]), reverse=True)
    rows.sort(key=lambda row: row["tier"])  # stable: newest first within a tier
    return [(row.pop("tier"), row) for row in rows]


def _glance(
    table: str, columns: Sequence[str], filters: Sequence[str], params: Sequence[Any],
    keyset: tuple[str, list[Any]] | None, arm: Arm, limit: int,
) -> tuple[str, list[Any]]:  # fmt: skip
    """The tier's rows among the GLANCE newest (within the filters), checked without index."""
    order = "ORDER BY created_at DESC, id DESC"
    within, args = [*filters, *([keyset[0]] if keyset else [])], [*params, *(keyset[1] if keyset else [])]
    newest = f"SELECT * FROM {table} " + (f"WHERE {' AND '.join(within)} " if within else "") + f"{order} LIMIT {GLANCE:d}"
    return f"SELECT {', '.join(columns)} FROM ({newest}) newest WHERE {arm.check} {order} LIMIT {limit:d}", [
        *args, *arm.check_params,
    ]


def _where(
    filters: Sequence[str], params: Sequence[Any], keyset: tuple[str, list[Any]] | None, arm: Arm
) -> tuple[str, list[Any]]:
    where, args = [*filters, arm.condition], [*params, *arm.params]
    if keyset is not None:
        where.append(keyset[0])
        args += keyset[1]
    return " AND ".join(where), args


def _tier_rows(
    cur: Cursor[Any], table: str, columns: Sequence[str], filters: Sequence[str], params: Sequence[Any],
    keyset: tuple[str, list[Any]] | None, arm: Arm, limit: int, trace: Trace | None,
    glanced: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The newest ``limit`` rows of one tier (within ``filters`` and after ``keyset``).

    Rare words are best found through their index and sorted; frequent ones (公, 有限) by
    walking the newest rows until enough match. PostgreSQL chooses between the two from its
    statistics, which are good for the exact and prefix tiers (btree on the name columns) but
    not for the GIN ones: it guesses 1% for any ``LIKE '%…%'`` and multiplies the frequencies
    of a phrase's bigrams as if they were independent (教育 and 育咨 are not). A wrong guess
    costs a walk through every row, or a sort of tens of thousands. So a contains or fuzzy
    tier decides itself. A contains tier first glances at the GLANCE newest rows (within the
    filters): enough when its words are in most records, and otherwise a sample of how
    frequent they are; frequent enough, and the tier walks the newest rows (no bitmap scans).
    Else the tier collects at most PROBE matches through its index (bitmap scans only): fewer
    are all there are, and the newest are taken from them; as many mean the words are
    frequent, and the tier walks after all."""
    select = ", ".join(columns)
    order = "ORDER BY created_at DESC, id DESC"
    where, args = _where(filters, params, keyset, arm)
    statement = f"SELECT {select} FROM {table} WHERE {where} {order} LIMIT {limit:d}"
    if arm.check is not None:  # walks check each row they read without the index
        walk_where, walk_args = _where(filters, params, keyset, Arm(arm.tier, arm.check, arm.check_params))
        walk = f"SELECT {select} FROM {table} WHERE {walk_where} {order} LIMIT {limit:d}"
    else:
        walk, walk_args = statement, args
    frequent = False
    if arm.tier == CONTAINS and arm.check is not None and arm.glance:
        if glanced is None:  # not done with the exact and prefix tiers (a cursor past them)
            glanced = _run(cur, *_glance(table, columns, filters, params, keyset, arm, limit), trace)
        if len(glanced) >= limit:
            return glanced[:limit]
        frequent = len(glanced) * PROBE >= limit * GLANCE or not arm.indexed  # a walk finds the page sooner
    with cur.connection.transaction():  # for SET LOCAL
        if arm.similarity:
            cur.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, true)", (str(SIMILARITY),))
        if not frequent:
            cur.execute(PLANS["index"])
            probe = (
                f"SELECT {select}, matches FROM (SELECT *, count(*) OVER () AS matches FROM "
                f"(SELECT * FROM {table} WHERE {where} LIMIT {PROBE:d}) match) match {order} LIMIT {limit:d}"
            )
            rows = _run(cur, probe, args, trace, "index")
            if not rows or rows[0]["matches"] < PROBE:
                for row in rows:
                    del row["matches"]
                return rows
        cur.execute(PLANS["walk"])
        return _run(cur, walk, walk_args, trace, "walk")


def _run(cur: Cursor[Any], statement: str, args: list[Any], trace: Trace | None, plans: str = "planner") -> list[Any]:
    # Not prepared: a generic plan would not know the words.
    rows = cur.execute(statement, args, prepare=False).fetchall()
    if trace is not None:
        trace.append((statement, args, len(rows), PLANS[plans]))
    return rows


def _tier(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not EXACT <= value <= FUZZY:
        raise ValueError("not a tier")
    return value


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("naive")
    return moment
