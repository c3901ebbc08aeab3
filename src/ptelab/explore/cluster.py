"""Units of one search (explore/parallel.py) as tasks on a Ray cluster.

Ray is an optional extra (`pip install 'ptelab[cluster]'`).  ADDRESS is what ray.init takes:
`auto` (the cluster this machine belongs to, started with `ray start --head`), `HOST:PORT` of
a head node, `ray://HOST:PORT` (Ray client); `local` starts a Ray instance on this machine for
this process alone.  Each unit is one task; results are taken as they finish (their sums do
not depend on the order: litmus/parallel.py); the units a task hands back mid-way come on a Ray
queue and are submitted when it ends.  Every node runs the same ptelab (the function
is sent by reference, the litmus source with each unit).
"""

from __future__ import annotations

EXTRA = "pip install 'ptelab[cluster]'"


class ClusterError(Exception):
    """No Ray, or no cluster at the address: a usage error."""


class Tasks:
    """fn(payload) as Ray tasks on the cluster at `address`: submit() hands one on now,
    finished() yields their results as they finish, while any is pending (a task submitted
    between two results is waited for too)."""

    def __init__(self, address: str, fn):
        self.ray = connect(address)
        self.task = self.ray.remote(fn)
        self.pending: list = []

    def submit(self, payload) -> None:
        self.pending.append(self.task.remote(payload))

    def finished(self):
        while self.pending:
            done, self.pending = self.ray.wait(self.pending, num_returns=1)
            yield self.ray.get(done[0])

    @staticmethod
    def queue():
        """A queue tasks put messages on (a Ray actor): its handle travels with a payload."""
        from ray.util.queue import Queue

        return Queue()

    @staticmethod
    def drain(queue) -> list:
        """What is on `queue` now, in the order it was put (a task's puts are done once it has
        returned)."""
        from ray.util.queue import Empty

        messages = []
        while True:
            try:
                messages.append(queue.get_nowait())
            except Empty:
                return messages


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
