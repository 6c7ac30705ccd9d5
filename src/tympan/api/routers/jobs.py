"""``GET /v1/jobs/{id}``: status and progress of background work (training, ...)."""

from __future__ import annotations

from fastapi import APIRouter

from tympan.api.deps import NamespaceDep, ServicesDep
from tympan.errors import ResourceNotFound
from tympan.store.jobs import Job

__all__ = ["router"]

router = APIRouter(tags=["jobs"])


@router.get("/v1/jobs/{job_id}", response_model=Job)
def get_job(job_id: str, services: ServicesDep, namespace: NamespaceDep) -> Job:
    """A job's status, progress, message, and result or error once it ends.

    A job made for a namespace (classifier training) is unknown to the others.
    """
    job = services.jobs.get(job_id)
    if job.params.get("namespace", namespace) != namespace:
        raise ResourceNotFound(f"No job {job_id!r}.", param="job_id")
    return job
