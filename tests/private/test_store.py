"""The store of sealed contents (accord.private.store.SealedStore): rows, purges that really
erase (SQLite secure_delete), retention, crash recovery, and restarts."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from accord.errors import StorageError
from accord.private.store import EXPIRED, SealedStore


def _files(directory: Path) -> list[Path]:
    """The database and any journal next to it."""
    return [p for p in directory.iterdir() if p.name.startswith("sealed.db")]


_RUN = os.urandom(8).hex()


def _marker(tag: str, size: int = 600) -> bytes:
    """``size`` bytes repeating a unit (:func:`_unit`) no page of SQLite's holds by chance."""
    unit = _unit(tag)
    return (unit * (size // len(unit) + 1))[:size]


def _unit(tag: str) -> bytes:
    """What is looked for: a value over several pages is cut by their headers, its unit is not."""
    return f"MARKER-{tag}-{_RUN}-".encode()


def _on_disk(directory: Path, tag: str) -> list[str]:
    return [p.name for p in _files(directory) if _unit(tag) in p.read_bytes()]


def test_put_get_and_held(tmp_path: Path) -> None:
    store = SealedStore(tmp_path / "private")
    assert store.get(1) is None and store.held() == [] and store.purges() == {}
    store.put_many([(3, "prices", 1000, b"three"), (2, "prices", 900, b"two")])
    store.put_many([(5, "quotes", 1100, b"\x00five\xff")])
    assert store.get(2) == b"two" and store.get(5) == b"\x00five\xff" and store.get(4) is None
    assert store.held() == [
        (2, "prices", b"two"),
        (3, "prices", b"three"),
        (5, "quotes", b"\x00five\xff"),
    ]
    store.put_many([(3, "prices", 1000, b"three again")])  # written again after a crash
    assert store.get(3) == b"three again"
    store.put_many([])
    store.close()


def test_the_store_is_private_to_the_node(tmp_path: Path) -> None:
    store = SealedStore(tmp_path / "private")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    store.close()


def test_purge_erases_and_remembers_who(tmp_path: Path) -> None:
    store = SealedStore(tmp_path)
    store.put_many([(2, "prices", 900, b"two"), (3, "prices", 1000, b"three")])
    store.purge(2, "prices", "1.9")
    assert store.get(2) is None and store.get(3) == b"three"
    assert store.purged_by(2) == "1.9" and store.purged_by(3) is None
    store.purge(2, "prices", "1.12")  # a second purge of the same entry: the first one stays
    assert store.purged_by(2) == "1.9"
    store.purge(7, "prices", EXPIRED)  # never held here: still marked
    assert store.purges() == {2: "1.9", 7: EXPIRED}
    assert store.held() == [(3, "prices", b"three")]
    store.close()


def test_expired_rows(tmp_path: Path) -> None:
    store = SealedStore(tmp_path)
    store.put_many(
        [
            (2, "quotes", 1000, b"a"),
            (3, "quotes", 2000, b"b"),
            (4, "prices", 500, b"c"),
            (5, "quotes", 2001, b"d"),
        ]
    )
    assert store.expired("quotes", 999) == []
    assert store.expired("quotes", 1000) == [2]
    assert sorted(store.expired("quotes", 2000)) == [2, 3]
    assert store.expired("prices", 10**12) == [4]
    assert store.expired("other", 10**12) == []
    store.purge(2, "quotes", EXPIRED)
    assert sorted(store.expired("quotes", 2000)) == [3]
    store.close()


def test_drop_after_forgets_rows_of_entries_that_never_committed(tmp_path: Path) -> None:
    store = SealedStore(tmp_path)
    store.put_many([(s, "prices", s, b"x%d" % s) for s in range(2, 9)])
    assert store.drop_after(8) == 0
    assert store.drop_after(5) == 3
    assert [s for s, _, _ in store.held()] == [2, 3, 4, 5]
    assert store.drop_after(5) == 0
    store.close()


def test_a_failed_write_keeps_nothing(tmp_path: Path) -> None:
    store = SealedStore(tmp_path)
    with pytest.raises(StorageError):
        store.put_many([(2, "prices", 1, b"kept?"), (3, "prices")])  # type: ignore[list-item]
    assert store.get(2) is None
    store.put_many([(2, "prices", 1, b"ok")])  # and the store still works
    assert store.get(2) == b"ok"
    store.close()


def test_a_corrupt_store_is_a_storage_error(tmp_path: Path) -> None:
    tmp_path.joinpath("sealed.db").write_bytes(b"this is not a SQLite database" * 100)
    with pytest.raises(StorageError, match="sealed-contents store"):
        SealedStore(tmp_path)


@pytest.mark.parametrize("value", ["tampered", 42, 4.5])
def test_a_sealed_value_of_another_sqlite_type_is_a_storage_error(
    tmp_path: Path, value: object
) -> None:
    """A hand edit (the sqlite3 shell) that stores TEXT or a number: a storage error, never a
    crash of the audit nor a 500 of a read."""
    store = SealedStore(tmp_path)
    store.put_many([(2, "prices", 1, b"two"), (3, "prices", 1, b"three")])
    db = sqlite3.connect(store.path)
    db.execute("UPDATE sealed SET sealed = ? WHERE seqno = 3", (value,))
    db.commit()
    db.close()
    assert store.get(2) == b"two"
    with pytest.raises(StorageError, match="entry 3 are not bytes"):
        store.get(3)
    with pytest.raises(StorageError, match="entry 3 are not bytes"):
        store.held()
    store.close()


def test_rows_and_purges_survive_a_restart(tmp_path: Path) -> None:
    store = SealedStore(tmp_path)
    store.put_many([(2, "prices", 900, b"two"), (3, "prices", 1000, b"three")])
    store.purge(2, "prices", "1.4")
    store.close()
    again = SealedStore(tmp_path)
    assert again.get(3) == b"three" and again.get(2) is None
    assert again.purges() == {2: "1.4"}
    assert again.held() == [(3, "prices", b"three")]
    again.close()


# --- secure_delete: purged bytes are gone from the files, not just unlinked ---------------------


@pytest.mark.parametrize("size", [200, 3000, 20_000])  # in a page, most of a page, overflow pages
def test_purge_zeroes_the_bytes(tmp_path: Path, size: int) -> None:
    store = SealedStore(tmp_path)
    marker, neighbour = _marker("purged", size), _marker("kept", size)
    store.put_many(
        [(2, "prices", 1, b"before"), (3, "prices", 2, marker), (4, "prices", 3, neighbour)]
    )
    assert _on_disk(tmp_path, "purged") == ["sealed.db"]  # the check can see it
    store.purge(3, "prices", "1.9")
    assert _on_disk(tmp_path, "purged") == [], "purged bytes left in the store's files"
    assert _on_disk(tmp_path, "kept") == ["sealed.db"]
    store.close()
    assert _on_disk(tmp_path, "purged") == []
    assert [p.name for p in _files(tmp_path)] == ["sealed.db"]  # no journal left behind


def test_retention_and_crash_recovery_zero_the_bytes_too(tmp_path: Path) -> None:
    store = SealedStore(tmp_path)
    expired, uncommitted = _marker("expired"), _marker("uncommitted", 5000)
    store.put_many([(2, "quotes", 1, expired), (9, "quotes", 2, uncommitted)])
    assert _on_disk(tmp_path, "expired") == _on_disk(tmp_path, "uncommitted") == ["sealed.db"]
    for seqno in store.expired("quotes", 1):
        store.purge(seqno, "quotes", EXPIRED)
    assert store.drop_after(8) == 1
    store.close()
    assert _on_disk(tmp_path, "expired") == [] and _on_disk(tmp_path, "uncommitted") == []


def test_a_row_written_again_leaves_no_old_bytes(tmp_path: Path) -> None:
    store = SealedStore(tmp_path)
    old = _marker("old", 1500)
    store.put_many([(2, "prices", 1, old)])
    assert _on_disk(tmp_path, "old") == ["sealed.db"]
    store.put_many([(2, "prices", 1, b"new")])
    store.close()
    assert _on_disk(tmp_path, "old") == []


def test_secure_delete_is_on_for_every_connection(tmp_path: Path) -> None:
    store = SealedStore(tmp_path)
    assert store._db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    store.close()
    # a plain connection (an operator's sqlite3 shell) sees an ordinary database
    db = sqlite3.connect(tmp_path / "sealed.db")
    assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")} == {
        "sealed",
        "purged",
    }
    db.close()
