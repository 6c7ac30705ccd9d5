"""``GET /v1/jobs/{id}``: status and progress of background work (training, ...)."""

from __future__ import annotations

from fastapi import APIRouter

from tympan.api.deps import ServicesDep
from tympan.store.jobs import Job

__all__ = ["router"]

router = APIRouter(tags=["jobs"])


@router.get("/v1/jobs/{job_id}", response_model=Job)
def get_job(job_id: str, services: ServicesDep) -> Job:
    """A job's status, progress, message, and result or error once it ends."""
    return services.jobs.get(job_id)
