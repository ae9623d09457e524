"""Pause Python's cyclic garbage collector around a set-wise operation.

A batch run keeps every object it makes (contract rows, priced entries, planned lines,
invoices) until it returns, hundreds of thousands of them. The cyclic collector, which
wakes after every few hundred new objects, then walks them again and again and frees
nothing: at full size that was a fifth of the run's CPU time. Reference counting still
frees everything that is not in a cycle while the collector sleeps; cycles made meanwhile
wait for its next pass after the operation (decision record 0006).

Process-wide, so concurrent pauses (threads) are counted: the first one in stops the
collector, the last one out restarts it, and only if it was running before.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

_lock = threading.Lock()
_depth = 0
_was_enabled = False

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def collector_paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def pauses_collector(func: Callable[P, R]) -> Callable[P, R]:
    """``func`` runs with the cyclic collector paused (see ``collector_paused``)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with collector_paused():
            return func(*args, **kwargs)

    return wrapper
