"""The parse stage, and the worker process it runs in while the hub files the previous batch.

Parsing (mail-parser) and screening are pure and take about half of a message's time, so they run in
a process of their own. This module imports no database code: the worker starts in a fraction of the
hub's start-up time.

No message stops the worker for long: one whose parse outlasts [limits] parse_seconds is given up there (an
alarm interrupts it) and held in quarantine, and the worker goes on. A worker that does not answer at all
(stuck in C code, which the alarm cannot interrupt) is stopped by the hub, as though it had died, once it has been
on one message for longer than parse_seconds and a new worker's start: it tells the hub when it begins each one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from hub.core import logs
from hub.core.errors import QuarantineError, TemporaryError, describe
from hub.intake.message import InboundMessage
from hub.intake.screen import Screening, screen

Parser = Callable[[bytes, str, int], InboundMessage]
Parse = Callable[[bytes, str], "Parsed"]
T = TypeVar("T")
# The quarantine's reasons for a message that a new worker, parsing it alone, died on too, or did not answer on.
WORKER_DIED = "the parse worker process died while parsing this message"
WORKER_STUCK = "the parse worker did not answer while parsing this message and was stopped ([limits] parse_seconds)"
# What a worker may take besides a message's time: a new one starts (spawn, its modules) with its first task.
WORKER_START_SECONDS = 10
_progress: Any = None  # in a worker: where it tells the hub when it began its current message (_Pool.progress)
# The modules the worker loads: the functions it is sent come from them, and they import no database code.
WORKER_MODULES = ["hub.intake.parse.workers", "hub.intake.parse.email", "hub.core.logs"]


@dataclass(frozen=True)
class Parsed:
    """What the parse and screen stages made of raw bytes: a screened message, or why it goes to quarantine.

    Plain data, so that both stages can run in the worker."""

    message: InboundMessage | None
    screening: Screening | None = None
    problem: str = ""


def oversize_reason(size: int, max_message_bytes: int) -> str:
    return f"message of {size} bytes is over the {max_message_bytes}-byte limit ([limits] max_message_bytes)"


def parse_stage(raw: bytes, source: str, parser: Parser, max_message_bytes: int, max_attachment_bytes: int,
                office_domain: str) -> Parsed:
    if len(raw) > max_message_bytes:
        return Parsed(None, problem=oversize_reason(len(raw), max_message_bytes))
    try:
        message = parser(raw, source, max_attachment_bytes)
    except QuarantineError as error:
        return Parsed(None, problem=str(error))
    except Exception as error:  # whatever strange bytes make a parser raise is this message's fate alone
        return Parsed(None, problem=f"parsing failed: {describe(error)}")
    try:
        return Parsed(message, screen(message, office_domain))
    except Exception as error:
        return Parsed(None, problem=f"screening failed: {describe(error)}")


def too_slow(seconds: int) -> str:
    return f"parsing took longer than {seconds} s ([limits] parse_seconds)"


def parse_chunk(parse: Parse, items: list[tuple[bytes, str]], seconds: int | None = None) -> list[Parsed]:
    """In the worker: parse each message (given up after `seconds`), and send it back without the raw bytes the
    caller holds."""
    results = []
    for raw, source in items:
        _tell_progress()
        parsed = parse(raw, source) if seconds is None else _within(seconds, parse, raw, source)
        if parsed.message is not None:
            parsed = replace(parsed, message=replace(parsed.message, raw=b""))
        results.append(parsed)
    _tell_progress()
    return results


def _tell_progress() -> None:
    """In a worker: now is when it began its current message, or ended its task."""
    if _progress is not None:
        _progress.value = time.monotonic()  # the machine's clock on Linux, the same in the hub's process


class _OutOfTime(BaseException):
    """Raised in a worker when a message's time is up: not an Exception, which a parser's own handlers, or the
    parse stage's, would take for the message's error."""


def _out_of_time(_signal: int, _frame: object) -> None:
    raise _OutOfTime


def _within(seconds: int, parse: Parse, raw: bytes, source: str) -> Parsed:
    """`parse(raw, source)`, interrupted by an alarm after `seconds`: the worker runs its tasks in its main thread,
    where signals are handled (between bytecodes, and inside the `re` module's matching too)."""
    if signal.getsignal(signal.SIGALRM) is not _out_of_time:
        signal.signal(signal.SIGALRM, _out_of_time)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return parse(raw, source)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _OutOfTime:  # also when the alarm came as the parse ended, before it was taken back
        return Parsed(None, problem=too_slow(seconds))


def empty_task() -> None:
    """A task for the worker that carries nothing (see inbox._parsed_batches)."""


def with_raw(parsed: Parsed, raw: bytes) -> Parsed:
    """A result of `parse_chunk` with its raw bytes back."""
    if parsed.message is None or parsed.message.raw:
        return parsed
    return replace(parsed, message=replace(parsed.message, raw=raw))


@contextmanager
def parse_workers() -> Iterator[ParseWorkers]:
    """One parsing process beside this one. The process starts with the first task: a pass over an empty inbox, the
    daemon's usual one, starts none. On a single core too: there it gains no speed (the parse and the filing take
    turns), but a message whose parse never ends, or that kills the process parsing it, must not take the hub with
    it."""
    # spawn: a fresh interpreter that loads the worker's modules alone (about 30 MB). Not fork: a forked worker
    # would inherit this process's database connections and keep a killed hub's transaction (and its row
    # locks) open on PostgreSQL. Not forkserver: its server stays beside the hub for the process's life, as
    # large again as the worker it forks.
    context = multiprocessing.get_context("spawn")
    setup = (os.getpid(), logging.getLogger().getEffectiveLevel(), logs.current_style(), logs.thread_office())
    workers = ParseWorkers(lambda progress: ProcessPoolExecutor(
        max_workers=1, mp_context=context, initializer=_worker_setup, initargs=(*setup, progress)))
    try:
        yield workers
    finally:
        workers.shutdown()


class WorkerStuck(BrokenProcessPool):
    """The worker did not answer in time and was stopped: to the hub, as though it had died."""


class WorkerUnavailable(TemporaryError):
    """A new parse worker could not even run an empty task: the fault is not a message's, and the pass stops with
    its batch unacknowledged, for the next pass."""


@dataclass
class _Pool:
    """A pool of one worker process, and where the worker tells when it began the message it is on, or ended its
    last task (`_tell_progress`)."""

    executor: ProcessPoolExecutor
    progress: Any  # multiprocessing's RawValue("d"): a time.monotonic()
    given: float = 0.0  # when it was last given a task (time.monotonic)


class ParseWorkers(Executor):
    """The parse worker's pool, started again when its process dies (the kernel kills it for its memory, a crash
    in C code takes it down): a pool whose process died fails every task it holds, and takes no more.

    `start` makes a pool whose worker is given the shared value it tells its progress in."""

    def __init__(self, start: Callable[[Any], ProcessPoolExecutor]) -> None:
        self._start = start
        self._pool = self._new()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:  # type: ignore[override]
        try:
            return _submitted(self._pool, fn, *args, **kwargs)
        except BrokenProcessPool:
            self._pool = self._replaced(self._pool)
            return _submitted(self._pool, fn, *args, **kwargs)

    def results(self, future: Future[list[Parsed]], seconds: int) -> list[Parsed]:
        """A task's results (`parse_chunk`, given `seconds` a message); BrokenProcessPool when its worker died,
        WorkerStuck when it did not answer in time (it is stopped then)."""
        # A task still waiting is the current pool's: one that died has failed all of its tasks.
        return _answer(self._pool, future, seconds)

    def parse_alone(self, parse: Parse, items: list[tuple[bytes, str]], seconds: int) -> list[Parsed]:
        """Messages a worker was parsing when it died or stopped answering, each parsed by itself in a worker of
        their own, so that what kills or stops that worker too is known to be the message's doing: it goes to
        quarantine (WORKER_DIED, WORKER_STUCK). Never parsed in the hub's own process, which it would take down
        or hold with it. Results come without the raw bytes, as `parse_chunk`'s do."""
        results: list[Parsed] = []
        pool = self._new()
        try:
            for raw, source in items:
                try:
                    [parsed] = _answer(pool, _submitted(pool, parse_chunk, parse, [(raw, source)], seconds), seconds)
                except BrokenProcessPool as stopped:
                    pool = self._replaced(pool)
                    _healthy(pool)
                    parsed = Parsed(None, problem=WORKER_STUCK if isinstance(stopped, WorkerStuck) else WORKER_DIED)
                results.append(parsed)
        finally:
            pool.executor.shutdown(wait=False, cancel_futures=True)
        return results

    def _new(self) -> _Pool:
        progress = multiprocessing.get_context("spawn").RawValue("d", 0.0)
        return _Pool(self._start(progress), progress)

    def _replaced(self, dead: _Pool) -> _Pool:
        """A new pool in place of `dead`, whose process died (its tasks all failed with it)."""
        dead.executor.shutdown(wait=False, cancel_futures=True)
        return self._new()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.executor.shutdown(wait, cancel_futures=cancel_futures)


def _submitted(pool: _Pool, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
    with _main_module_hidden():
        future = pool.executor.submit(fn, *args, **kwargs)
    pool.given = time.monotonic()
    return future


def _answer(pool: _Pool, future: Future[list[Parsed]], seconds: int) -> list[Parsed]:
    """The results of `pool`'s task `future`; BrokenProcessPool when its worker died, WorkerStuck when it has been
    on one message for longer than `seconds` and a new worker's start (the worker is stopped then), counted from
    when it began that message, or was given this task after a rest."""
    limit = seconds + WORKER_START_SECONDS
    while True:
        left = max(pool.progress.value, pool.given) + limit - time.monotonic()
        try:
            return future.result(timeout=max(left, 0))  # a task done already is answered, however late it is read
        except TimeoutError:
            if left > 0:
                continue  # waited out what was left: it may have begun another message meanwhile
            _stop(pool.executor)
            raise WorkerStuck(f"the parse worker stopped answering (more than {limit} s on one message) "
                              "and was stopped") from None


def _stop(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's worker, which is running a task: the pool then fails all of its tasks. ProcessPoolExecutor
    has no public way to stop a running task before Python 3.14's `terminate_workers`."""
    processes: dict[int, multiprocessing.Process] = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.kill()


def _healthy(pool: _Pool) -> None:
    """Raises WorkerUnavailable unless a worker of `pool` starts and runs an empty task, within a few times a
    worker's usual start (one that never starts is stopped)."""
    within = 3 * WORKER_START_SECONDS
    try:
        _submitted(pool, empty_task).result(timeout=within)
    except BrokenProcessPool as error:
        raise WorkerUnavailable("a new parse worker stopped before it could parse anything") from error
    except TimeoutError:
        _stop(pool.executor)
        raise WorkerUnavailable(f"a new parse worker did not start within {within} s") from None


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While a worker starts: multiprocessing has each worker run the parent's main module again when it is a
    script, and the `hub` console script is one (its import is the whole command line, database code and
    all). The worker needs none of it: its functions come from this module's imports."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _worker_setup(hub_pid: int, log_level: int, log_style: logs.Style, office: str = "",
                  progress: Any = None) -> None:
    """In a parse worker: log like the hub (redacted, at its level, each line starting with the name of the
    `office` it works for in a deployment, as the office's threads' lines do), tell its `progress` (`_Pool`), and
    leave when the hub process is gone, even if it was killed (SIGKILL gives the pool no chance to stop its worker,
    which would wait on its queue for ever).

    Ctrl-C in a terminal signals the whole process group; the hub decides when to stop (after the
    current message) and ends the worker itself, so the worker ignores SIGINT."""
    global _progress
    _progress = progress
    logs.configure(log_level, log_style)
    if office:
        logs.name_offices(office)
    logging.getLogger("mailparser").setLevel(logging.ERROR)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(1)
            try:
                os.kill(hub_pid, 0)
            except ProcessLookupError:
                os._exit(0)

    threading.Thread(target=watch, name="hub-watch", daemon=True).start()
