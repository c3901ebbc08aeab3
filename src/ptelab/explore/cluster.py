"""Units of one search (explore/parallel.py) as tasks on a Ray cluster.

Ray is an optional extra (`pip install 'ptelab[cluster]'`).  ADDRESS is what ray.init takes:
`auto` (the cluster this machine belongs to, started with `ray start --head`), `HOST:PORT` of
a head node, `ray://HOST:PORT` (Ray client); `local` starts a Ray instance on this machine for
this process alone.  Each unit is one task; results are taken as they finish (their sums do
not depend on the order: litmus/parallel.py); the units a task hands back mid-way come on a Ray
queue and are submitted when it ends.  Every node runs the same ptelab (the function
is sent by reference, the litmus source with each unit).

The merged search's visited set (explore/visited.py) is sharded over Ray actors by
fingerprint, as distributed TLC and SPIN shard theirs (`ShardedVisited`): a unit asks the
shard that owns a state's fingerprint whether it is explored, and publishes it there once
explored.  The workers run with one string-hash seed (PYTHONHASHSEED), so that they name
states alike (explore/state.py).
"""

from __future__ import annotations

EXTRA = "pip install 'ptelab[cluster]'"
HASH_SEED = "0"  # every worker's PYTHONHASHSEED (explore/state.py: states are shared across processes)


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


class ShardedVisited:
    """The merged search's visited set on the cluster: Ray actors (one a CPU of the cluster,
    at least one), each an explore/visited.Visited holding the fingerprints whose first byte
    is its number modulo their count.  It travels with each unit (its actors' handles); in
    each process it keeps a copy of the entries it read or published there, which is sound
    (explore/visited.py: an entry is complete for what it says), so that a state met again
    there costs no round trip.  Publishing does not wait; a unit waits for its publications
    when it ends (flush), so that the set holds them before its result is counted."""

    def __init__(self, address: str, shards: int | None = None):
        from .visited import Visited

        ray = connect(address)
        actor = ray.remote(num_cpus=0)(Visited)  # no CPU held: the units' tasks have them
        self.shards = [actor.remote() for _ in range(shards or cpus(address))]
        self.local, self.pending = Visited(), []

    def __getstate__(self):
        return self.shards

    def __setstate__(self, shards):
        from .visited import Visited

        self.shards, self.local, self.pending = shards, Visited(), []

    def _shard(self, key: bytes):
        return self.shards[key[0] % len(self.shards)]

    def get(self, key: bytes):
        known = self.local.get(key)
        if known is None:
            import ray

            known = ray.get(self._shard(key).get.remote(key))
            if known is not None:
                self.local.publish(key, *known)
        return known

    def publish(self, key: bytes, summary: dict, asleep: frozenset) -> None:
        self.local.publish(key, summary, asleep)
        self.pending.append(self._shard(key).publish.remote(key, summary, asleep))

    def flush(self) -> None:
        """Wait until the shards hold every entry published from here (a unit's end)."""
        import ray

        ray.get(self.pending)
        self.pending = []

    def size(self) -> int:
        """The distinct states published on the cluster."""
        import ray

        return sum(ray.get([shard.size.remote() for shard in self.shards]))

    def close(self) -> None:
        import ray

        for shard in self.shards:
            ray.kill(shard)


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
                     log_to_driver=False, include_dashboard=False, configure_logging=False,
                     runtime_env={"env_vars": {"PYTHONHASHSEED": HASH_SEED}})
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise ClusterError(f"--cluster {address}: no Ray cluster there ({str(err).splitlines()[0]})") from None
    return ray
