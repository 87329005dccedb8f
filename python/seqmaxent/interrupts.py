"""Ctrl-C and SIGTERM as clean stops.

A stop is a :class:`KeyboardInterrupt` (:class:`Stopped` for SIGTERM) raised in the main thread.
Inside :func:`deferred` (a results-file commit, waiting for the core to stop) a signal is only
noted and raised when the block ends, so no write is cut in half and no sampler thread is left
running in the core when the interpreter exits.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Stopped(KeyboardInterrupt):
    """A stop asked for by SIGTERM (a cluster's time limit, `kill`): handled like Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(stop: KeyboardInterrupt) -> int:
    """The shell's exit status for a stop: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + getattr(stop, "signum", signal.SIGINT)


def ignore_further() -> None:
    """After a stop, while the process winds up and exits: a second Ctrl-C or SIGTERM changes nothing."""
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)


def describe(stop: KeyboardInterrupt) -> str:
    """'interrupted' (Ctrl-C) or 'stopped by SIGTERM'."""
    return f"stopped by {stop}" if isinstance(stop, Stopped) else "interrupted"


def _raise(signum: int, _frame) -> None:
    raise Stopped(signum)


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM raises :class:`Stopped` in the main thread meanwhile (as Ctrl-C raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_noted: list[int] | None = None  # signals noted inside the outermost deferred block


def _note(signum: int, _frame) -> None:
    _noted.append(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """SIGINT and SIGTERM received inside the block are raised when it ends (nested blocks: the outermost)."""
    global _noted
    if threading.current_thread() is not threading.main_thread() or _noted is not None:
        yield
        return
    handlers = {s: h for s in (signal.SIGINT, signal.SIGTERM) if (h := signal.getsignal(s)) not in (signal.SIG_IGN, None)}
    noted: list[int] = []
    try:
        _noted = noted
        for s in handlers:
            signal.signal(s, _note)
        yield
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
        _noted = None
    if noted:
        signal.raise_signal(noted[0])  # now handled as it would have been outside the block
