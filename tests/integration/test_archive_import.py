"""Importing an archive sends nothing, ever: `hub ingest --archive` files old mail on cases that keep the
dates of their messages, closed unless `--status` says otherwise, and nothing is scheduled for them —
not at the import, and not by any later cycle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.cli.main import main
from hub.core.app import Hub
from hub.core.models import Case, Event, Message, Outbox, Reminder
from tests.helpers import START, email, make_office

pytestmark = pytest.mark.integration

WRITTEN = datetime(2023, 3, 2, 15, 30, tzinfo=UTC)


@pytest.fixture
def office(tmp_path: Path, database_url: str) -> Iterator[Hub]:
    hub = make_office(tmp_path / "office", database_url)
    yield hub
    hub.close()


def archive_of(tmp_path: Path, *senders: str) -> Path:
    """An mbox of 2023 mail, one message a sender, a week apart."""
    path = tmp_path / "2023.mbox"
    path.write_bytes(b"".join(
        b"From archive@example.com Thu Mar  2 15:30:00 2023\n"
        + email(sender=sender, subject=f"Help {n}", date=WRITTEN + timedelta(days=7 * n)).replace(b"\r\n", b"\n")
        + b"\n" for n, sender in enumerate(senders)))
    return path


def hub_command(hub: Hub, *args: str) -> int:
    return main(["--config", str(hub.config.path), *args])


def counts(hub: Hub) -> tuple[int, int]:
    """Letters on cases (the supervisors' weekly report is the office's, not a case's), and reminders."""
    with hub.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Outbox).where(Outbox.case_id.is_not(None))) or 0,
                session.scalar(select(func.count()).select_from(Reminder)) or 0)


def test_archived_cases_keep_their_dates_are_closed_and_schedule_nothing_ever(office: Hub, tmp_path: Path) -> None:
    archive = archive_of(tmp_path, "Pat Example <pat@example.com>", "Lee Example <lee@example.com>")
    assert hub_command(office, "ingest", "--archive", str(archive)) == 0
    with office.sessions() as session:
        cases = list(session.scalars(select(Case).order_by(Case.id)))
        assert [(case.opened_at, case.status, case.close_reason) for case in cases] == [
            (WRITTEN, "closed", "archived"), (WRITTEN + timedelta(days=7), "closed", "archived")]
        assert all(case.ref.startswith("CW-23-") for case in cases), "the reference's year is the case's"
        assert [case.updated_at for case in cases] == [WRITTEN, WRITTEN + timedelta(days=7)]
        assert [m.at for m in session.scalars(select(Message).order_by(Message.id))] == \
            [WRITTEN, WRITTEN + timedelta(days=7)]
        assert {event.at for event in session.scalars(select(Event).where(Event.case_id == cases[0].id))} == {WRITTEN}
    assert counts(office) == (0, 0)

    # A month and a year of cycles later: no check-in, no survey, no letter of any kind.
    for later in (START, START + timedelta(days=40), START + timedelta(days=400)):
        assert hub_command(office, "run", "--once", "--at", later.isoformat()) == 0
    assert counts(office) == (0, 0)


def test_an_archive_imported_as_open_cases_still_schedules_nothing(office: Hub, tmp_path: Path) -> None:
    archive = archive_of(tmp_path, "Pat Example <pat@example.com>")
    assert hub_command(office, "ingest", "--archive", "--status", "open", str(archive)) == 0
    with office.sessions() as session:
        (case,) = session.scalars(select(Case))
        assert (case.opened_at, case.status, case.close_reason) == (WRITTEN, "open", None)
    for later in (START, START + timedelta(days=40)):
        assert hub_command(office, "run", "--once", "--at", later.isoformat()) == 0
    assert counts(office) == (0, 0)

    # Mail written today is answered as usual.
    today = tmp_path / "today.eml"
    today.write_bytes(email(sender="Pat Example <pat@example.com>", subject="Re: Help 0", date=START))
    assert hub_command(office, "ingest", str(today)) == 0
    outbox, _ = counts(office)
    assert outbox >= 1, "mail from now on is answered as usual"


def test_status_goes_with_archive_only(office: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = archive_of(tmp_path, "pat@example.com")
    for wrong, said in ((("--status", "open"), "hub: --status goes with --archive: it is the status of the "
                                                "archive's cases (see `hub --help`)\n"),
                        (("--archive", "--status", "shut"), "invalid choice: 'shut'")):
        with pytest.raises(SystemExit) as usage:
            hub_command(office, "ingest", *wrong, str(archive))
        assert usage.value.code == 2
        assert said in capsys.readouterr().err
    assert counts(office) == (0, 0)
