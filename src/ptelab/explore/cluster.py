"""Units of one search (explore/parallel.py) as tasks on a Ray cluster.

Ray is an optional extra (`pip install 'ptelab[cluster]'`).  ADDRESS is what ray.init takes:
`auto` (the cluster this machine belongs to, started with `ray start --head`), `HOST:PORT` of
a head node, `ray://HOST:PORT` (Ray client); `local` starts a Ray instance on this machine for
this process alone.  Each unit is one task; results are taken as they finish (their sums do
not depend on the order: litmus/parallel.py).  Every node runs the same ptelab (the function
is sent by reference, the litmus source with each unit).
"""

from __future__ import annotations

EXTRA = "pip install 'ptelab[cluster]'"


class ClusterError(Exception):
    """No Ray, or no cluster at the address: a usage error."""


def ray_map(address: str, fn, payloads: list):
    """fn(payload) for each payload as a Ray task, submitted now: their results, as they finish."""
    ray = connect(address)
    task = ray.remote(fn)
    return _as_finished(ray, [task.remote(p) for p in payloads])


def _as_finished(ray, pending: list):
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        yield ray.get(done[0])


def cpus(address: str) -> int:
    """The CPUs of the cluster at `address`: how many units run at once."""
    return max(1, int(connect(address).cluster_resources().get("CPU", 1)))


def connect(address: str):
    """ray, initialised for `address` (once per process)."""
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--cluster needs Ray, which is not installed: {EXTRA} (the 'cluster' extra)") from None
    if not ray.is_initialized():
        import logging

        try:
            ray.init(address=None if address == "local" else address, logging_level=logging.ERROR,
                     log_to_driver=False, include_dashboard=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise ClusterError(f"--cluster {address}: no Ray cluster there ({str(err).splitlines()[0]})") from None
    return ray
