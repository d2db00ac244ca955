"""A page of row changes coalesces per row and lands as the changes applied in order would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kunveno.adapters.persistence.sqlite import SqliteReadStore
from kunveno.projections.store import MAX_PARAMS, Writes


@pytest.fixture
def store() -> Iterator[SqliteReadStore]:
    read_store = SqliteReadStore(":memory:")
    with read_store.transaction() as cur:
        cur.execute("CREATE TABLE t (id TEXT PRIMARY KEY, a TEXT NOT NULL, b TEXT)")
        cur.execute("CREATE TABLE trail (n INTEGER NOT NULL)")
    yield read_store
    read_store.close()


def flush(store: SqliteReadStore, writes: Writes) -> dict[str, tuple[str, str | None]]:
    with store.transaction() as cur:
        writes.flush(cur)
    return {r["id"]: (r["a"], r["b"]) for r in store.query("SELECT * FROM t")}


def test_an_update_after_an_upsert_in_the_same_page_merges_into_one_row(
    store: SqliteReadStore,
) -> None:
    writes = Writes()
    writes.upsert("t", {"id": "x"}, {"a": "one", "b": None})
    writes.update("t", {"id": "x"}, {"b": "two"})
    assert flush(store, writes) == {"x": ("one", "two")}


def test_an_update_of_an_existing_row_leaves_its_other_columns(store: SqliteReadStore) -> None:
    first = Writes()
    first.upsert("t", {"id": "x"}, {"a": "one", "b": "kept?"})
    flush(store, first)
    second = Writes()
    second.update("t", {"id": "x"}, {"a": "changed"})
    assert flush(store, second) == {"x": ("changed", "kept?")}


def test_delete_then_upsert_leaves_the_new_row_and_upsert_then_delete_leaves_none(
    store: SqliteReadStore,
) -> None:
    first = Writes()
    first.upsert("t", {"id": "x"}, {"a": "old", "b": "old"})
    first.upsert("t", {"id": "y"}, {"a": "y", "b": None})
    flush(store, first)
    second = Writes()
    second.delete("t", {"id": "x"})
    second.upsert("t", {"id": "x"}, {"a": "new", "b": None})
    second.upsert("t", {"id": "y"}, {"a": "y2", "b": None})
    second.delete("t", {"id": "y"})
    second.update("t", {"id": "y"}, {"a": "ignored"})
    assert flush(store, second) == {"x": ("new", None)}


def test_many_rows_are_split_below_the_parameter_bound(store: SqliteReadStore) -> None:
    writes = Writes()
    count = MAX_PARAMS  # three parameters a row: several statements
    for n in range(count):
        writes.upsert("t", {"id": f"r{n}"}, {"a": str(n), "b": None})
        writes.append("trail", {"n": n})
    rows = flush(store, writes)
    assert len(rows) == count
    assert rows["r998"] == ("998", None)
    trail = store.query("SELECT COUNT(*) AS c, SUM(n) AS s FROM trail")[0]
    assert (trail["c"], trail["s"]) == (count, sum(range(count)))
