"""``GET /metrics``: Prometheus' text format, from ``prometheus-client``'s own exposition.

Behind the API keys like every route (a ``read`` key may scrape); ``TYMPAN_METRICS_PORT``
also serves the same registry on a separate loopback port for a scraper without a key.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Every Tympan metric (requests, latency, audio, batches, models, jobs, live sessions)."""
    body = generate_latest(request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
