"""Healthy or degraded (hub.run.health), as `hub status` says it in lines, in JSON and by its exit code:
an office the daemon never ran on, stale jobs, a failing source, an outbox that does not move; and the
daemon's own judgement of its jobs (running ones by their last sign of life)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from hub.cli.main import main
from hub.core.app import Hub
from hub.core.models import Outbox, SourceCursor
from hub.run.cycle import inbox_name
from hub.run.health import RUNNING_GRACE, job_problems
from hub.run.heartbeat import JOB_PREFIX, record
from hub.run.jobs import office_jobs
from hub.run.status import json_of, lines_of, office_status
from tests.helpers import make_office


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    office = make_office(tmp_path / "office", f"sqlite:///{tmp_path / 'hub.db'}")
    yield office
    office.close()


def every_job_ran(hub: Hub, at: datetime) -> None:
    record(hub.sessions, inbox_name(hub), at)
    for job in office_jobs(hub):
        record(hub.sessions, JOB_PREFIX + job.name, at)


def problems(hub: Hub) -> list[tuple[str, str]]:
    return [(problem.subject, problem.kind) for problem in office_status(hub).health.problems]


def status(capsys: pytest.CaptureFixture[str], hub: Hub, *options: str) -> tuple[int, str]:
    code = main(["--config", str(hub.config.path), "status", *options])
    return code, capsys.readouterr().out


def test_an_office_where_the_daemon_never_ran_is_degraded_with_one_clear_line(
        hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = status(capsys, hub)
    assert code == 1
    lines = out.splitlines()
    assert lines[:2] == ["degraded (1 problem):", "  daemon: the daemon has not run here: no job has run on this "
                         "database (start `hub run`, README \"Running as a service\")"]
    assert "jobs: none has run here yet (they run under `hub run`)" in lines
    code, out = status(capsys, hub, "--json")
    report = json.loads(out)
    assert code == 1 and report["healthy"] is False
    assert report["problems"] == [{"subject": "daemon", "kind": "not-run", "text": report["problems"][0]["text"]}]


def test_a_daemon_whose_jobs_just_ran_is_healthy_exit_0_and_json_has_stable_fields(
        hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)  # the command runs on the real clock
    every_job_ran(hub, now - timedelta(seconds=2))
    code, out = status(capsys, hub)
    assert code == 0, out
    assert out.splitlines()[0] == "healthy"
    code, out = status(capsys, hub, "--json")
    report = json.loads(out)
    assert code == 0
    assert set(report) == {"healthy", "checked_at", "problems", "sources", "jobs", "leases", "outbox", "reminders",
                           "quarantine", "triage"}
    assert report["healthy"] is True and report["problems"] == [] and report["leases"] == []
    assert datetime.fromisoformat(report["checked_at"]).tzinfo is not None
    jobs = {job["name"]: job for job in report["jobs"]}
    assert jobs["outbox"]["interval_seconds"] == 30 and jobs["report"]["interval_seconds"] == 7 * 86400
    assert abs(datetime.fromisoformat(jobs["inbox"]["last_success_at"]) - (now - timedelta(seconds=2))) < timedelta(
        seconds=1)
    assert report["sources"] == [{"name": inbox_name(hub), "last_success_at": report["sources"][0]["last_success_at"],
                                  "last_error": "", "watched": True}]
    assert report["outbox"] == {"waiting": 0, "due": 0, "oldest_due_at": None, "retrying": 0, "failed": 0,
                                "unrecorded": 0}
    assert report["reminders"] == {"due": 0, "oldest_due_at": None}
    assert report["quarantine"] == {"held": 0} and report["triage"] == {"waiting": 0}


def test_a_job_with_no_success_for_twice_its_interval_is_stale(hub: Hub) -> None:
    now = hub.clock.now()
    every_job_ran(hub, now - timedelta(seconds=130))
    # The Maildir inbox is checked every 5 s, reminders every 60 s, the outbox every 30 s: 130 s is past twice
    # each; the weekly report, the triage list and the digest are far from theirs.
    assert problems(hub) == [("job inbox", "stale"), ("job reminders", "stale"), ("job outbox", "stale")]
    every_job_ran(hub, now - timedelta(seconds=11))
    assert problems(hub) == [("job inbox", "stale")]
    record(hub.sessions, "job:inbox", now)
    assert problems(hub) == []
    line = lines_of(office_status(hub))
    assert line[0] == "healthy"


def test_the_stale_line_says_how_long_and_how_often(hub: Hub) -> None:
    now = hub.clock.now()
    every_job_ran(hub, now)
    record(hub.sessions, "job:outbox", now - timedelta(hours=3, minutes=5))
    lines = lines_of(office_status(hub))
    assert lines[:2] == ["degraded (1 problem):", "  job outbox: stale: no success for 3 h 5 min (it runs every "
                         "30 s); is the daemon running?"]


def test_a_failing_source_is_a_problem_and_an_old_one_is_not_judged(hub: Hub) -> None:
    now = hub.clock.now()
    every_job_ran(hub, now)
    record(hub.sessions, "imap:old@mail.example.gov:993/INBOX", now - timedelta(days=90), "gone")
    assert problems(hub) == []
    record(hub.sessions, inbox_name(hub), now, "OSError: no such folder")
    assert problems(hub) == [(f"source {inbox_name(hub)}", "failing")]
    assert [source.judged for source in office_status(hub).health.sources] == [False, True]
    record(hub.sessions, inbox_name(hub), now)  # a success clears the error
    assert problems(hub) == []


def test_a_job_that_never_ran_while_others_did_is_a_problem(hub: Hub) -> None:
    now = hub.clock.now()
    every_job_ran(hub, now)
    with hub.sessions.begin() as session:
        session.execute(delete(SourceCursor).where(SourceCursor.source == "job:triage"))
    assert problems(hub) == [("job triage", "never-ran")]
    record(hub.sessions, "job:triage", now, "OperationalError: database is locked")  # a row, but no success
    assert problems(hub) == [("job triage", "never-ran")]
    status = json_of(office_status(hub))
    triage = next(job for job in status["jobs"] if job["name"] == "triage")
    assert triage["last_success_at"] is None and triage["last_error"].endswith("database is locked")


def letter(hub: Hub, n: int, due: datetime, created: datetime, attempts: int = 0, state: str = "pending") -> None:
    with hub.sessions.begin() as session:
        session.add(Outbox(letter="acknowledgement", recipient=f"person{n}@example.com", message_id=f"<h{n}@hub>",
                           state=state, attempts=attempts, not_before=due, created_at=created))


def test_an_outbox_that_does_not_move_is_a_problem_and_a_failed_letter_is_not(hub: Hub) -> None:
    now = hub.clock.now()
    every_job_ran(hub, now)
    letter(hub, 1, now - timedelta(minutes=3), now - timedelta(minutes=3))  # due a moment: the next pass sends it
    letter(hub, 2, now + timedelta(minutes=30), now - timedelta(minutes=20), attempts=3)  # retrying, not long
    letter(hub, 3, now - timedelta(days=1), now - timedelta(days=1), attempts=1, state="failed")
    assert problems(hub) == []
    letter(hub, 4, now - timedelta(minutes=11), now - timedelta(minutes=11))
    letter(hub, 5, now + timedelta(minutes=30), now - timedelta(hours=2), attempts=6)
    health = office_status(hub).health
    assert [(p.kind, p.text) for p in health.problems] == [
        ("stalled", "mail due for 11 min is not sent: is the daemon running?"),
        ("retrying", "1 letter still retrying 60 min after being queued: the server refuses them or cannot be "
                     "reached (hub case show REF has the error)")]


def test_the_daemon_judges_its_jobs_from_its_start_and_a_running_job_by_its_last_sign_of_life(hub: Hub) -> None:
    now = hub.clock.now()
    jobs = {job.name: job for job in office_jobs(hub)}
    outbox = [jobs["outbox"]]  # every 30 s
    long_ago = now - timedelta(days=2)
    # Just started: an old success (or none) is no problem before twice the interval has passed.
    assert job_problems(outbox, {"outbox": long_ago}, now, since=now - timedelta(seconds=10)) == []
    assert job_problems(outbox, {}, now, since=now - timedelta(seconds=10)) == []
    assert [p.kind for p in job_problems(outbox, {}, now, since=now - timedelta(seconds=61))] == ["stale"]
    # Running: alive while it shows signs of life, and given RUNNING_GRACE for a slow network call.
    started = now - timedelta(hours=1)
    assert job_problems(outbox, {}, now, since=started, busy={"outbox": now - timedelta(seconds=5)}) == []
    assert job_problems(outbox, {}, now, since=started, busy={"outbox": now - timedelta(minutes=4)}) == []
    stuck = now - RUNNING_GRACE - timedelta(seconds=1)
    assert [p.kind for p in job_problems(outbox, {}, now, since=started, busy={"outbox": stuck})] == ["stale"]
    # A job whose timetable is a week is judged against two weeks.
    report = [jobs["report"]]
    assert job_problems(report, {"report": now - timedelta(days=13)}, now) == []
    assert [p.kind for p in job_problems(report, {"report": now - timedelta(days=15)}, now)] == ["stale"]
