"""Uploaded files: rows per namespace, newest first, 404 for another namespace's."""

from __future__ import annotations

import pytest

from tympan.errors import ResourceNotFound
from tympan.store import Database
from tympan.store.db import utc_now
from tympan.store.files import FileStore, StoredFile, new_file_id


def _file(namespace: str = "default", name: str = "data.zip") -> StoredFile:
    return StoredFile(new_file_id(), namespace, name, "fine-tune", 10, "0" * 64, utc_now())


def test_files_are_kept_per_namespace(any_db: Database) -> None:
    store = FileStore(any_db)
    first, second = store.add(_file(name="a.zip")), store.add(_file(name="b.zip"))
    other = store.add(_file("acme"))
    assert first.id.startswith("file-") and len(first.id) == 29
    assert store.get(first.id, "default") == first
    assert [item.id for item in store.list("default")] == [second.id, first.id]
    assert [item.id for item in store.list("default", limit=1)] == [second.id]
    assert [item.id for item in store.list("default", after=second.id)] == [first.id]
    with pytest.raises(ResourceNotFound):
        store.list("default", after=other.id)
    assert [item.id for item in store.list("acme", purpose="fine-tune")] == [other.id]
    assert store.list("default", purpose="assistants") == []
    with pytest.raises(ResourceNotFound):
        store.get(other.id, "default")
    with pytest.raises(ResourceNotFound):
        store.delete(other.id, "default")
    assert store.delete(first.id, "default") == first
    with pytest.raises(ResourceNotFound):
        store.get(first.id, "default")
    assert store.get(other.id, "acme") == other
