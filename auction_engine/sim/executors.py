"""Executors: the same pure `run_batch(specs) -> results` on one core, a process pool, Dask or Ray.

Why: a sweep must give identical results — down to each run's ledger head hash — whoever runs
it. Every executor here calls `experiment.run_batch` on batches of specs and yields the results
as they complete; nothing about a result depends on the worker, the batch or the order, because
a run's randomness comes only from its spec (see `experiment`). The caller re-orders rows by
plan order before writing tables.

- ``serial``: in this process.
- ``process``: `concurrent.futures.ProcessPoolExecutor` with `workers` processes (default: the
  CPU count), started with the "forkserver" method where available (no inherited threads).
- ``dask``: `dask.distributed` — a `Client` on `address` (a running scheduler, e.g.
  ``tcp://10.0.0.5:8786``, or the DASK_SCHEDULER_ADDRESS variable), or a `LocalCluster` with
  `workers` single-threaded worker processes. Install with ``pip install 'auction-engine[dask]'``.
- ``ray``: `ray` — `ray.init(address)` (``auto`` joins a running cluster) or a local instance
  with `workers` CPUs. Install with ``pip install 'auction-engine[ray]'``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from .experiment import RunResult, RunSpec, run_batch

__all__ = ["EXECUTORS", "ExecutorUnavailable", "batches", "execute"]

EXECUTORS = ("serial", "process", "dask", "ray")


class ExecutorUnavailable(RuntimeError):
    """The chosen executor's package is not installed (the message says which extra to install)."""


def batches(specs: Sequence[RunSpec], workers: int, per_worker: int = 16, limit: int = 64) -> list[list[RunSpec]]:
    """Split specs into about `per_worker` batches per worker (at most `limit` specs each), keeping order.

    Small batches keep the workers busy to the end: the last one to finish is at most a batch (about
    1/16 of a worker's share) behind the others, even when another job slows one core down.
    """
    if not specs:
        return []
    size = max(1, min(limit, len(specs) // max(1, workers * per_worker)))
    return [list(specs[i : i + size]) for i in range(0, len(specs), size)]


def execute(
    specs: Sequence[RunSpec], executor: str = "serial", workers: int | None = None, address: str | None = None
) -> Iterator[RunResult]:
    """Yield the result of every spec (in completion order) using `executor`."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r} (choose from {', '.join(EXECUTORS)})")
    if not specs:
        return
    if executor == "serial":
        for spec in specs:
            yield from run_batch([spec])
        return
    workers = workers or os.cpu_count() or 1
    if executor == "process":
        yield from _process(specs, workers)
    elif executor == "dask":
        yield from _dask(specs, workers, address or os.environ.get("DASK_SCHEDULER_ADDRESS"))
    else:
        yield from _ray(specs, workers, address or os.environ.get("RAY_ADDRESS"))


def _process(specs: Sequence[RunSpec], workers: int) -> Iterator[RunResult]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(run_batch, batch) for batch in batches(specs, workers)]
        for future in as_completed(futures):
            yield from future.result()


def _dask(specs: Sequence[RunSpec], workers: int, address: str | None) -> Iterator[RunResult]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ExecutorUnavailable(
            "the dask executor needs dask.distributed: pip install 'auction-engine[dask]'"
        ) from None
    cluster = None
    if address:
        client = Client(address)
    else:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
        client = Client(cluster)
    try:
        futures = client.map(run_batch, batches(specs, workers), pure=False)
        for future in as_completed(futures):
            yield from future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _ray(specs: Sequence[RunSpec], workers: int, address: str | None) -> Iterator[RunResult]:
    try:
        import ray
    except ImportError:
        raise ExecutorUnavailable("the ray executor needs ray: pip install 'auction-engine[ray]'") from None
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        remote = ray.remote(run_batch)
        pending = [remote.remote(batch) for batch in batches(specs, workers)]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                yield from ray.get(ref)
    finally:
        if started:
            ray.shutdown()
