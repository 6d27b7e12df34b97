"""Engines run ``process_source`` over the pending inputs and hand each result to ``on_done`` as it arrives.

- local: in this process (``workers = 1``) or a spawn-started process pool; each worker pins OpenCV to one thread.
- ray: the same function as Ray tasks (one CPU each), on the cluster at ``ray_address`` or a local Ray with
  ``workers`` CPUs. Workers write clips and thumbnails straight into the output folder, so on a multi-node cluster
  that folder must be shared storage (NFS, a mounted bucket); the driver writes the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vgen.errors import UserError

OnDone = Callable[..., None]


def run_engine(pending: list, out_dir: Path, settings, on_done: OnDone) -> None:
    if not pending:
        return
    payload = settings.model_dump(mode="json")
    args = [(str(item.path), item.rel, str(out_dir), payload) for item in pending]
    if settings.engine == "ray":
        _run_ray(pending, args, settings, on_done)
    elif settings.workers <= 1:
        from vgen.curate.pipeline import process_source

        for item, a in zip(pending, args, strict=True):
            on_done(item, process_source(*a), None)
    else:
        _run_pool(pending, args, settings.workers, on_done)


def _init_worker() -> None:
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


def _job(args: tuple) -> list[dict]:
    from vgen.curate.pipeline import process_source

    return process_source(*args)


def _run_pool(pending: list, args: list, workers: int, on_done: OnDone) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init_worker)
    try:
        futures = {pool.submit(_job, a): item for item, a in zip(pending, args, strict=True)}
        remaining = set(futures)
        while remaining:
            finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: futures[f].rel):
                exc = fut.exception()
                if exc is None:
                    on_done(futures[fut], fut.result(), None)
                else:  # the worker process died (crash, out of memory): recorded, retried by the next run
                    on_done(futures[fut], None, f"{type(exc).__name__}: {exc}")
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_ray(pending: list, args: list, settings, on_done: OnDone) -> None:
    try:
        import ray
    except ImportError:
        raise UserError("--engine ray needs Ray: pip install 'vgen[distributed]' (or pip install ray)") from None
    started = False
    if not ray.is_initialized():
        try:
            if settings.ray_address:
                ray.init(address=settings.ray_address, log_to_driver=False)
            else:
                ray.init(num_cpus=settings.workers, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
        except ConnectionError as exc:
            raise UserError(f"cannot join the Ray cluster at {settings.ray_address}: {exc}") from None
        started = True
    task = ray.remote(num_cpus=1, max_retries=1)(_job)
    refs = {task.remote(a): item for item, a in zip(pending, args, strict=True)}
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            item = refs.pop(ready[0])
            try:
                records, error = ray.get(ready[0]), None
            except ray.exceptions.RayError as exc:  # the task's worker died: recorded, retried by the next run
                records, error = None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            on_done(item, records, error)
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
