"""``GET /v1/jobs`` and ``GET /v1/jobs/{id}``: status and progress of background work."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from tympan.api.deps import NamespaceDep, ServicesDep
from tympan.errors import ResourceNotFound
from tympan.store.jobs import Job, JobStatus

__all__ = ["router"]

router = APIRouter(tags=["jobs"])


class JobList(BaseModel):
    """OpenAI's list shape: the page of jobs and whether older ones exist."""

    object: Literal["list"] = "list"
    data: list[Job]
    has_more: bool


def _mine(job: Job, namespace: str) -> bool:
    """A job made for a namespace (classifier training) is unknown to the others."""
    return job.params.get("namespace", namespace) == namespace


@router.get("/v1/jobs", response_model=JobList)
def list_jobs(
    services: ServicesDep,
    namespace: NamespaceDep,
    kind: str | None = None,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> JobList:
    """The caller's jobs, newest first, optionally of one kind and status."""
    jobs = [job for job in services.jobs.list(kind, status) if _mine(job, namespace)]
    return JobList(data=jobs[:limit], has_more=len(jobs) > limit)


@router.get("/v1/jobs/{job_id}", response_model=Job)
def get_job(job_id: str, services: ServicesDep, namespace: NamespaceDep) -> Job:
    """A job's status, progress, message, and result or error once it ends."""
    job = services.jobs.get(job_id)
    if not _mine(job, namespace):
        raise ResourceNotFound(f"No job {job_id!r}.", param="job_id")
    return job
