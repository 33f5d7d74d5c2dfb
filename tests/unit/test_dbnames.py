"""Names on the shared server: always fit in 63 bytes, never collide, deterministic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mooring.core.dbnames import HASH_CHARS, MARK, MAX_IDENTIFIER_BYTES, database_names, shorten

# Any text PostgreSQL could hold as an identifier (no NUL), including astral characters.
identifier_text = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    max_size=200,
)
dns_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")


@given(identifier_text)
def test_shorten_always_fits_and_is_deterministic(text: str) -> None:
    short = shorten(text)
    assert len(short.encode()) <= MAX_IDENTIFIER_BYTES
    assert short == shorten(text)
    if len(text.encode()) <= MAX_IDENTIFIER_BYTES:
        assert short == text
    else:
        assert MARK in short and short.startswith(short.split(MARK)[0])
        assert text.startswith(short[: -len(MARK) - HASH_CHARS])  # a real prefix, whole chars


@given(
    identifier_text.filter(lambda t: MARK not in t), identifier_text.filter(lambda t: MARK not in t)
)
def test_distinct_texts_stay_distinct(a: str, b: str) -> None:
    if a != b:
        assert shorten(a) != shorten(b)


@given(dns_label, dns_label, dns_label, dns_label)
def test_two_databases_never_share_a_name_or_a_role(ns1: str, n1: str, ns2: str, n2: str) -> None:
    first, second = database_names(ns1, n1), database_names(ns2, n2)
    for names in (first, second):
        assert len(set(names.roles)) == 3
        assert all(len(r.encode()) <= MAX_IDENTIFIER_BYTES for r in names.roles)
    if (ns1, n1) != (ns2, n2):
        assert first.database != second.database
        assert not set(first.roles) & set(second.roles)


def test_readable_names_when_they_fit() -> None:
    names = database_names("shop-prod", "orders")
    assert names.database == names.owner == "shop-prod_orders"
    assert names.logins == ("shop-prod_orders_1", "shop-prod_orders_2")
    assert names.slot_of("shop-prod_orders_2") == 1
    assert names.slot_of("someone-else") is None


def test_long_names_keep_a_readable_prefix() -> None:
    names = database_names("a" * 63, "b" * 50)
    assert names.database.startswith("a" * 40)
    assert len(names.database.encode()) == MAX_IDENTIFIER_BYTES
    assert names.logins[0] != names.logins[1]


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        pytest.param("shop", 'x"; DROP ROLE postgres; --', id="refuses quotes and semicolons"),
        pytest.param("shop", "données", id="refuses unicode"),
        pytest.param("Shop", "orders", id="refuses upper case"),
        pytest.param("shop", "a_b", id="refuses an underscore (the separator)"),
        pytest.param("shop", "", id="refuses an empty name"),
        pytest.param("s" * 64, "orders", id="refuses a label over 63 characters"),
    ],
)
def test_database_names_refuse_what_is_not_a_dns_label(namespace: str, name: str) -> None:
    with pytest.raises(ValueError, match="is not a DNS label"):
        database_names(namespace, name)


def test_shorten_refuses_nul() -> None:
    with pytest.raises(ValueError, match="NUL"):
        shorten("a\x00b")
