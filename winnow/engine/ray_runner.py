"""The Ray executor: the local executor's phase functions (read + row stages + corpus-stage
map per shard, apply per shard, write per part, verify) run as Ray tasks instead of local
processes. Each corpus stage's reduce is driven from the driver, as locally, and runs the
tasks it splits into (key shuffle, collisions, verification, scoring) as Ray tasks too.
Tasks write the same checkpoint files (temporary name, then rename), so a task Ray retries
after a worker dies writes the same bytes, and results are identical to the local
executor's.

Every task reads and writes the run's folders, so workers on other machines need the same
paths (a shared filesystem). ``pip install 'winnow[ray]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from winnow.engine.collector import batch_collection


class RayRunner:
    def __init__(self, address: str | None, workers: int | None) -> None:
        try:
            import ray
        except ImportError as err:
            from winnow.engine.local import RunFailed

            raise RunFailed("the Ray executor needs Ray: pip install 'winnow[ray]'", 2) from err
        self.ray = ray
        self.owns = not ray.is_initialized()
        if self.owns:
            options = {"num_cpus": workers} if address is None and workers else {}
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **options)
        self.task = ray.remote(max_retries=4)(_batch_task)  # retried if its worker dies
        self.count = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def map(self, label: str, fn: Callable, calls: Iterable[tuple]) -> list:
        task = self.task.options(name=fn.__name__)  # the name Ray shows: the phase's
        return self.ray.get([task.remote(fn, *args) for args in calls])

    def close(self, wait_for: bool = True) -> None:
        if self.owns:
            self.ray.shutdown()


def _batch_task(fn: Callable, *args):
    """``fn(*args)`` in a Ray worker, with the collector set for batch work as in the local
    executor's workers."""
    with batch_collection():
        return fn(*args)
