"""A local Ray cluster for the scale-out tests: 127.0.0.1, 3 logical CPUs, one per test module.

Three, on the 2-core machine, because Ray's CPUs are scheduling tokens: two ASR applications
of 1 CPU each (two fronts' models, or autoscaling to two replicas) plus the fractional VAD,
speaker and speech replicas beside them must fit, or a replica waits forever to be placed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A local Ray on 127.0.0.1 with 3 logical CPUs for one module; Serve (started by the
    service under test) and Ray are both shut down after it."""
    ray = pytest.importorskip("ray")
    from ray import serve

    ray.init(num_cpus=3, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        yield
    finally:
        serve.shutdown()
        ray.shutdown()
