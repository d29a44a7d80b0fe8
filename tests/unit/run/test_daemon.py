"""The daemon's machinery with jobs of the test's own, on a SQLite office: growing pauses after temporary
failures (one warning each, no SQL in it) and the reset after a success, wake-ups that come while a job
runs, the outbox woken by a job that produced something, the poll keys; and the pieces `hub status` reads."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from hub.core import config
from hub.core.app import Hub
from hub.core.clock import spoken_duration
from hub.core.errors import ConfigError
from hub.core.models import SourceCursor
from hub.run import daemon as daemon_module
from hub.run.daemon import Daemon
from hub.run.heartbeat import record
from hub.run.jobs import Job
from hub.run.status import status_lines
from hub.sources.backoff import Backoff, is_temporary, one_line
from tests.helpers import make_office
from tests.hub_process import wait_until

FIRST = 0.05
NEVER = IntervalTrigger(hours=1)  # after the run at start, only wake-ups and retries make a job run


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    office = make_office(tmp_path / "office", f"sqlite:///{tmp_path / 'hub.db'}")
    yield office
    office.close()


def stop_the_daemon() -> None:
    """From a job's thread: the signal an administrator sends."""
    os.kill(os.getpid(), signal.SIGTERM)


def run(daemon: Daemon) -> list[str]:
    lines: list[str] = []
    asyncio.run(daemon.run(lines.append))
    return lines


def test_pauses_double_to_the_cap_and_start_again_after_a_success() -> None:
    backoff = Backoff(first=1, longest=300)
    assert [backoff.next_pause() for _ in range(11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    backoff.reset()
    assert backoff.next_pause() == 1


def test_a_database_error_is_temporary_and_its_line_leaves_out_the_statement() -> None:
    error = OperationalError("UPDATE messages SET body=? WHERE id=?", ("Dear Pat, your claim", 7),
                             Exception("database is locked\nmore detail"))
    assert is_temporary(error) and is_temporary(ConnectionRefusedError()) and not is_temporary(ValueError())
    assert one_line(error) == "OperationalError: database is locked"
    try:
        {}["missing"]
    except KeyError as bug:
        assert one_line(bug).startswith("KeyError: 'missing' (at test_daemon.py:")


def test_a_failing_job_is_retried_after_growing_pauses_with_one_line_when_it_fails_and_one_when_it_works(
        hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[float] = []
    daemon: Daemon

    def flaky(hub: Hub, should_stop: object) -> bool:
        attempts.append(time.monotonic())
        if len(attempts) <= 3:
            raise OperationalError("SELECT raw FROM messages", {}, Exception("connection refused"))
        if len(attempts) == 4:
            daemon._from_thread(daemon.wake, "inbox")  # new mail: it runs again at once
            return False
        if len(attempts) == 5:
            raise KeyError("a bug")
        stop_the_daemon()
        return False

    with caplog.at_level(logging.DEBUG, logger="hub.run.daemon"):
        daemon = Daemon(hub, [Job("inbox", flaky, NEVER, "hourly")], first_pause=FIRST)
        run(daemon)
    assert len(attempts) == 6
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:4], strict=False)]
    assert [gap >= pause * 0.8 for gap, pause in zip(gaps, (FIRST, 2 * FIRST, 4 * FIRST), strict=True)] == [True] * 3
    told = [(r.levelname, r.getMessage()) for r in caplog.records
            if r.levelno >= logging.WARNING and r.name == "hub.run.daemon"]
    assert told[0] == ("WARNING", f"inbox: OperationalError: connection refused; trying again in {FIRST:.0f} s, "
                                  "and quietly until it works")
    assert told[1][0] == "WARNING" and told[1][1].startswith("inbox: working again after 3 failed attempts over ")
    assert told[2][0] == "ERROR" and told[2][1].startswith("inbox failed: KeyError: 'a bug' (at test_daemon.py:")
    assert told[3][0] == "WARNING" and told[3][1].startswith("inbox: working again after 1 failed attempts over ")
    assert len(told) == 4, "one line when it fails and one when it works again, none per retry"
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and r.name == "hub.run.daemon"]
    assert retries == [f"inbox: still failing: OperationalError: connection refused; trying again in {pause:.0f} s"
                       for pause in (2 * FIRST, 4 * FIRST)]
    with hub.sessions() as session:
        row = session.scalars(select(SourceCursor).where(SourceCursor.source == "job:inbox")).one()
    assert row.last_success_at is not None and row.last_error == ""


def test_a_wake_up_during_a_run_runs_the_job_again_and_new_work_wakes_the_outbox(hub: Hub) -> None:
    runs: list[str] = []
    woken = threading.Event()
    daemon: Daemon

    def inbox(hub: Hub, should_stop: object) -> bool:
        runs.append("inbox")
        if not woken.is_set():
            woken.set()
            daemon._from_thread(daemon.wake, "inbox")  # as the IDLE watcher does, while this run goes on
            time.sleep(0.2)
        return runs.count("inbox") == 2  # the second run "filed" something

    def outbox(hub: Hub, should_stop: object) -> bool:
        runs.append("outbox")
        if runs.count("inbox") == 2 and runs[-2] == "inbox":
            stop_the_daemon()
        return False

    daemon = Daemon(hub, [Job("inbox", inbox, NEVER, "hourly"), Job("outbox", outbox, NEVER, "hourly")])
    lines = run(daemon)
    assert lines == ["hub running: inbox maildir:" + str(hub.config.resolve("var/inbox")) +
                     " (checked hourly), no sms line, outbox maildir:var/sent hourly and after new mail; SIGTERM stops"]
    assert runs.count("inbox") == 2 and runs[-2:] == ["inbox", "outbox"]


def test_a_configuration_error_in_a_job_stops_the_daemon_and_is_raised(hub: Hub) -> None:
    def broken(hub: Hub, should_stop: object) -> bool:
        raise ConfigError("[outbound] url: login refused")

    with pytest.raises(ConfigError, match="login refused"):
        run(Daemon(hub, [Job("outbox", broken, NEVER, "hourly")]))


def test_poll_intervals_default_by_inbox_and_are_read_from_the_config(tmp_path: Path) -> None:
    office = make_office(tmp_path / "office", f"sqlite:///{tmp_path / 'hub.db'}")
    office.close()  # only its configuration is wanted: an open database left to the collector warns on 3.13
    path = office.config.path
    assert config.load(path).inbox.poll_seconds == 5  # a Maildir
    text = path.read_text().replace('url = "maildir:var/inbox"', 'url = "imap://hub@127.0.0.1/INBOX"')
    path.write_text(text)
    assert config.load(path).inbox.poll_seconds == 60
    path.write_text(text.replace("# poll_seconds = 60\n", "poll_seconds = 0\n", 1))
    with pytest.raises(ConfigError, match=r"\[inbox\] poll_seconds: must be a positive number"):
        config.load(path)


def test_status_shows_sources_and_jobs_with_their_last_error(hub: Hub) -> None:
    now = hub.clock.now()
    record(hub.sessions, "maildir:/srv/inbox", now)
    record(hub.sessions, "job:outbox", now)
    record(hub.sessions, "job:inbox", now)
    record(hub.sessions, "job:inbox", now, "imap:…: ConnectionRefusedError")
    lines = status_lines(hub)
    # The jobs that never ran make the office degraded (hub.run.health; tests/unit/run/test_health.py).
    assert lines[1:4] == ["  job reminders: has never run to the end here (configured since the daemon started? "
                          "restart it)", *lines[2:4]] and lines[0] == "degraded (3 problems):"
    lines = lines[4:]
    assert lines[0].startswith(f"source maildir:/srv/inbox: last success {now:%Y-%m-%d %H:%M:%S} UTC (")
    assert lines[1].startswith("job inbox: last success ") and lines[1].endswith(
        f"; last error {now:%Y-%m-%d %H:%M:%S} UTC: imap:…: ConnectionRefusedError")
    assert lines[2].startswith("job outbox: last success ") and "error" not in lines[2]
    assert lines[3] == "job reminders: last success never"
    assert lines[-4:] == ["outbox: 0 waiting; 0 failed", "reminders due: 0", "quarantine: 0 held",
                          "triage: 0 waiting for a caseworker"]


@pytest.mark.parametrize("failing_for", [timedelta(minutes=10), timedelta(seconds=10)], ids=["10 min", "10 s"])
def test_a_failing_job_that_starts_again_is_still_stale_until_it_shows_a_sign_of_life(
        hub: Hub, failing_for: timedelta, monkeypatch: pytest.MonkeyPatch) -> None:
    # The watchdog falls silent while a job is stale. A job that keeps failing starts again after each pause: its
    # start is not a sign of life, or the watchdog pinged during each new attempt (seen under load: a ping while
    # the inbox's server was down), also in the first RUNNING_GRACE of its failures (seen in CI).
    # Nor is it stuck (what makes a deployment's watchdog fall silent while the others' jobs run) until its run
    # has been silent for RUNNING_GRACE: a slow failure (a connection's time limit) is not mended by a restart.
    monkeypatch.setattr(daemon_module, "RUNNING_GRACE", timedelta(seconds=0.5))
    entered, sign_given, finish = threading.Event(), threading.Event(), threading.Event()

    def inbox(_hub: Hub, should_stop: Callable[[], bool]) -> bool:
        entered.set()
        sign_given.wait(10)
        should_stop()  # between messages: a sign of life
        finish.wait(10)
        return False

    daemon = Daemon(hub, [Job("inbox", inbox, IntervalTrigger(seconds=1), "every 1 s")])
    daemon._started = datetime.now(UTC) - failing_for  # no success since
    attempt = threading.Thread(target=daemon._attempt, args=(daemon.jobs["inbox"],))
    attempt.start()
    try:
        assert entered.wait(10)
        [(problem, stuck)] = daemon.stale_jobs()
        assert problem.startswith(f"job inbox: stale: no success for {spoken_duration(failing_for)}")
        assert not stuck, "a run just begun"
        wait_until(lambda: [stuck for _problem, stuck in daemon.stale_jobs()] == [True], 10,
                   "its run silent for RUNNING_GRACE: stuck")
        sign_given.set()
        wait_until(lambda: not daemon.stale_jobs(), 10, "the job's sign of life")
    finally:
        sign_given.set()
        finish.set()
        attempt.join(10)
    assert not daemon.stale_jobs(), "a success is fresh"
