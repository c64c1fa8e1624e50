"""Independent jobs (ablation runs, cross-validation folds) run one after another, on local worker processes,
or on a Dask distributed cluster, through one ``concurrent.futures`` interface.

Every job trains through :func:`brainlib.engine.train` with its own fixed seed and writes its result to the
shared results cache itself (unique temporary name, atomic rename), so the same jobs give the same results
whichever way they run, and two workers can never leave a half-written cache file. Results are bit-for-bit
the sequential ones when the thread count per job is the same (``threads``); see the README.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor

from brainlib.errors import SweepError

CLUSTER_HINT = "pip install 'brainlib[cluster]'"


def where(workers: int, scheduler: str | None) -> str:
    """Where jobs run, in words."""
    if scheduler:
        return f"the Dask cluster at {scheduler}"
    return f"{workers} local worker processes" if workers > 1 else "this process"


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


SCHEDULER_TIMEOUT = 10  # seconds to connect to a Dask scheduler and read its greeting
MAX_GREETING_BYTES = 1 << 24  # a Dask handshake is a few hundred bytes; a banner read as a length is far more


def check_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT) -> str:
    """Refuse (:class:`SweepError`, one line) an address that is not a reachable Dask scheduler, within
    ``timeout`` seconds: not ``tcp://host:port``, a refused connection, or a service that does not greet like
    Dask (a Dask scheduler sends its handshake first, a length-prefixed message; an HTTP server says nothing, an
    SSH server a text banner). Returns the address with its scheme."""
    import socket
    import struct

    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme != "tcp":
        raise SweepError(
            f"--scheduler {address}: only tcp://host:port addresses are supported ({scheme}:// needs a transport "
            "or security set-up brainlib does not configure)"
        )
    host, _, port_text = rest.rstrip("/").rpartition(":")
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SweepError(f"--scheduler {address}: expected tcp://host:port (e.g. tcp://10.0.0.5:8786)")
    try:
        with socket.create_connection((host, int(port_text)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            greeting = b""
            while len(greeting) < 8:
                chunk = sock.recv(8 - len(greeting))
                if not chunk:
                    break
                greeting += chunk
    except TimeoutError:
        raise SweepError(
            f"--scheduler {address}: no Dask scheduler answered within {timeout:g} s (nothing listens, or the "
            "service there is not Dask)"
        ) from None
    except OSError as e:
        raise SweepError(f"--scheduler {address}: cannot connect ({e.strerror or e})") from None
    if len(greeting) < 8 or not 0 < struct.unpack("<Q", greeting)[0] < MAX_GREETING_BYTES:
        shown = greeting.decode("ascii", "replace").strip() or "nothing"
        raise SweepError(f"--scheduler {address}: the service there is not a Dask scheduler (it sent {shown[:40]!r})")
    return f"tcp://{rest}"


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
        address = check_scheduler(scheduler)
        try:
            client = Client(address, timeout=f"{SCHEDULER_TIMEOUT}s")
        except Exception as e:  # noqa: BLE001 — whatever the handshake failed with, the address is the user's
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
    try:
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            if on_done:
                on_done(results[futures[fut]])
    except BaseException:  # Ctrl-C, SIGTERM or a failed job: nothing queued starts, running jobs are stopped
        _stop(ex, list(futures))
        raise
    return results  # type: ignore[return-value]


def _stop(ex: Executor, futures: list) -> None:
    """Cancel every job that has not started and stop the running ones (local worker processes are terminated;
    a Dask cluster cancels its tasks). Finished jobs have written their results already."""
    for fut in futures:
        fut.cancel()
    if isinstance(ex, ProcessPoolExecutor):
        processes = list((getattr(ex, "_processes", None) or {}).values())
        ex.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            p.terminate()
        for p in processes:
            p.join(5)
    else:
        ex.shutdown(wait=False)
