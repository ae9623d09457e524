"""The cyclic collector pause: restored exactly as it was, across nesting, errors and
threads."""

from __future__ import annotations

import gc
import threading

import pytest

from billing_site.collector import collector_paused, pauses_collector


@pytest.fixture(autouse=True)
def _collector_back_on():
    yield
    gc.enable()


def test_pause_stops_the_collector_and_restarts_it():
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the inner pause must not restart it under the outer one"
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_an_error_still_restarts_it():
    gc.enable()

    @pauses_collector
    def fails(value: int) -> int:
        raise ValueError(value)

    with pytest.raises(ValueError):
        fails(3)
    assert gc.isenabled()
    assert pauses_collector(lambda value: value * 2)(4) == 8


def test_the_last_thread_out_restarts_it():
    gc.enable()
    inside, release = threading.Barrier(2), threading.Event()
    states = []

    def pause():
        with collector_paused():
            inside.wait()
            release.wait()

    worker = threading.Thread(target=pause)
    worker.start()
    with collector_paused():
        inside.wait()
    states.append(gc.isenabled())  # the worker still holds its pause
    release.set()
    worker.join()
    states.append(gc.isenabled())
    assert states == [False, True]
