"""Submitting work to Ray and reading its outcome: one CPU per task, retries when a worker dies,
the pending tasks cancelled when the job stops early, a task's failure as one line."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from ..engine import ModelError
from ..errors import BystanderError


def remote(func: Callable, retries: int):
    """``func`` as a Ray task on one CPU. Only a lost worker is retried: an error the task raised
    (an unreadable input) would only be raised again."""
    import ray

    return ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=False)(func)


@contextlib.contextmanager
def cancel_all(pending: list) -> Iterator[None]:
    """If the block ends early (an error, Ctrl-C), the tasks still in ``pending`` are cancelled,
    their workers stopped mid-task, so a cluster does not go on with a job nobody waits for."""
    try:
        yield
    except BaseException:
        import ray

        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise


def completed(refs: list, pending: list, subject: Callable[[int], str]) -> Iterator[tuple[int, Any]]:
    """Each task's result as it finishes, with its place in ``refs``. ``pending`` (the list
    ``cancel_all`` watches) holds the tasks still running; a failure is raised as ``task_error``
    about ``subject(place)``."""
    import ray

    index = {ref: n for n, ref in enumerate(refs)}
    pending += refs
    while pending:
        ready, pending[:] = ray.wait(pending, num_returns=1)
        n = index[ready[0]]
        try:
            result = ray.get(ready[0])
        except Exception as exc:
            raise task_error(exc, subject(n)) from None
        yield n, result


def task_error(exc: Exception, subject: str) -> Exception:
    """A task's failure as the error to report: the task's own error as it is, anything else (a
    worker lost more often than retried, a task Ray could not run) as one line about ``subject``."""
    import ray.exceptions

    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = exc.cause
        if isinstance(cause, (BystanderError, ModelError)):
            return cause
        return BystanderError(f"{subject}: failed on a worker ({type(cause).__name__}: {first_line(cause)})")
    return BystanderError(f"{subject}: failed on the cluster ({type(exc).__name__}: {first_line(exc)})")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
