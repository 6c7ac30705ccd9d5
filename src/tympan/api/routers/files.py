"""``/v1/files``: OpenAI's Files API for fine-tuning datasets (upload, list, get, content, delete).

The only purpose is ``fine-tune``: a zip of audio clips with ``manifest.csv`` or
``manifest.jsonl``, checked on upload (safe names, ``TYMPAN_MAX_UPLOAD_BYTES``,
``TYMPAN_MAX_DATASET_FILES``, ``TYMPAN_MAX_DATASET_BYTES``, ``TYMPAN_MAX_ZIP_RATIO``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel

from tympan.api.deps import NamespaceDep, ServicesDep
from tympan.store.files import StoredFile
from tympan.tasks.adaptation import DatasetFiles

__all__ = ["router"]

router = APIRouter(tags=["files"])


class FileObject(BaseModel):
    """OpenAI's File object."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["processed"] = "processed"
    status_details: str | None = None

    @classmethod
    def of(cls, stored: StoredFile) -> FileObject:
        return cls(
            id=stored.id,
            bytes=stored.bytes,
            created_at=int(stored.created_at.timestamp()),
            filename=stored.filename,
            purpose=stored.purpose,
        )


class FileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileObject]
    has_more: bool = False


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True


@router.post("/v1/files", response_model=FileObject)
async def upload_file(
    services: ServicesDep,
    namespace: NamespaceDep,
    file: Annotated[UploadFile, File(description="A zip of audio clips and a manifest")],
    purpose: Annotated[str, Form()],
) -> FileObject:
    """Store a fine-tuning dataset after checking it (400 not a safe zip or no manifest,
    413 over a limit, naming its setting)."""
    files = DatasetFiles(services, namespace)
    name = file.filename or "upload.zip"
    stored = await services.manager.run(files.add, file.file, name, purpose)
    return FileObject.of(stored)


@router.get("/v1/files", response_model=FileList)
def list_files(
    services: ServicesDep,
    namespace: NamespaceDep,
    purpose: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
) -> FileList:
    """The caller's files, newest first, after the file ``after``."""
    stored = DatasetFiles(services, namespace).list(purpose, limit + 1, after)
    return FileList(
        data=[FileObject.of(item) for item in stored[:limit]], has_more=len(stored) > limit
    )


@router.get("/v1/files/{file_id}", response_model=FileObject)
def get_file(file_id: str, services: ServicesDep, namespace: NamespaceDep) -> FileObject:
    """One file's description."""
    return FileObject.of(DatasetFiles(services, namespace).get(file_id))


@router.get("/v1/files/{file_id}/content")
def file_content(file_id: str, services: ServicesDep, namespace: NamespaceDep) -> FileResponse:
    """A file's bytes, as uploaded."""
    files = DatasetFiles(services, namespace)
    stored = files.get(file_id)
    return FileResponse(files.path(file_id), media_type="application/zip", filename=stored.filename)


@router.delete("/v1/files/{file_id}", response_model=FileDeleted)
def delete_file(file_id: str, services: ServicesDep, namespace: NamespaceDep) -> FileDeleted:
    """Forget a file and remove its bytes."""
    return FileDeleted(id=DatasetFiles(services, namespace).delete(file_id).id)
