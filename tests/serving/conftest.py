"""A local Ray cluster for the scale-out tests: 127.0.0.1, 2 CPUs, one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A local Ray on 127.0.0.1 with 2 CPUs for one module; Serve (started by the service under
    test) and Ray are both shut down after it."""
    ray = pytest.importorskip("ray")
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        yield
    finally:
        serve.shutdown()
        ray.shutdown()
