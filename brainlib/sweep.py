"""Independent jobs (ablation runs, cross-validation folds) run one after another, on local worker processes,
or on a Dask distributed cluster, through one ``concurrent.futures`` interface.

Every job trains through :func:`brainlib.engine.train` with its own fixed seed and writes its result to the
shared results cache itself (unique temporary name, atomic rename), so the same jobs give the same results
whichever way they run, and two workers can never leave a half-written cache file. Results are bit-for-bit
the sequential ones when the thread count per job is the same (``threads``); see the README.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

from brainlib.errors import SweepError

CLUSTER_HINT = "pip install 'brainlib[cluster]'"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file unique to this process and call, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_cached(path: Path, key: str) -> dict | None:
    """A cached result (JSON with its ``key``), or None when it is missing, of another key, or unreadable (a
    truncated or corrupt file is reported and then recomputed)."""
    import json

    if not path.exists():
        return None
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        import warnings

        warnings.warn(f"cached result {path} is unreadable (truncated or corrupt); recomputing it", stacklevel=3)
        return None
    return cached if isinstance(cached, dict) and cached.get("key") == key else None


def where(workers: int, scheduler: str | None) -> str:
    """Where jobs run, in words."""
    if scheduler:
        return f"the Dask cluster at {scheduler}"
    return f"{workers} local worker processes" if workers > 1 else "this process"


def threads_per_job(workers: int, threads: int | None = None) -> int:
    """Torch threads each job uses: ``threads`` when given, else the machine's cores shared among the workers."""
    if threads is not None:
        return max(1, int(threads))
    return max(1, (os.cpu_count() or 1) // max(1, workers))


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the body with ``threads`` torch threads (unchanged when None), restoring the count afterwards."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def executor(workers: int = 1, scheduler: str | None = None):
    """A ``concurrent.futures`` executor: a Dask cluster's when ``scheduler`` (its address, e.g.
    ``tcp://host:8786``) is given, else ``workers`` local processes; None means run in this process."""
    if workers < 1:
        raise SweepError(f"--workers must be at least 1, got {workers}")
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise SweepError(f"--scheduler needs Dask distributed: {CLUSTER_HINT}") from None
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as e:
            raise SweepError(
                f"cannot reach the Dask scheduler at {scheduler} ({' '.join(str(e).split())[:120]})"
            ) from None
        try:
            yield client.get_executor(pure=False)
        finally:
            client.close()
    elif workers == 1:
        yield None
    else:
        import multiprocessing

        # spawn, not fork: a forked copy of a process whose torch thread pool is running can hang
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool


def run_jobs(
    fn: Callable[[dict], dict],
    jobs: Iterable[dict],
    workers: int = 1,
    scheduler: str | None = None,
    on_done: Callable[[dict], None] | None = None,
) -> list[dict]:
    """``fn(job)`` for every job, results in job order; ``on_done`` sees each result as it arrives."""
    jobs = list(jobs)
    if not jobs:
        return []
    with executor(workers, scheduler) as ex:
        if ex is None:
            results = []
            for job in jobs:
                results.append(fn(job))
                if on_done:
                    on_done(results[-1])
            return results
        return _gather(ex, fn, jobs, on_done)


def _gather(ex: Executor, fn, jobs: list[dict], on_done) -> list[dict]:
    from concurrent.futures import as_completed

    futures = {ex.submit(fn, job): i for i, job in enumerate(jobs)}
    results: list[dict | None] = [None] * len(jobs)
    for fut in as_completed(futures):
        results[futures[fut]] = fut.result()
        if on_done:
            on_done(results[futures[fut]])
    return results  # type: ignore[return-value]
