"""Privacy on disk and in logs, on SQLite and PostgreSQL: every file the hub writes is 0600 and every
folder it makes 0700 whatever the umask it was started with, and a database error leaves neither a
constituent's address nor the statement's parameters (their message) in the log or on the terminal."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from hub.cli.main import main
from hub.core.app import Hub
from hub.core.models import QuarantineItem
from hub.run.office import init_office
from tests.helpers import email, feed
from tests.hub_process import HubProcess, wait_until

pytestmark = pytest.mark.integration

LOOSE_UMASK = 0o022  # the usual default: 0644 files and 0755 folders unless the hub says otherwise
REFUSED = "pat.rivera@example.net"
BODY = "My disability payments stopped in March after the review at 14 Elm Street."


def hub_command(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`hub -v ARGS` in a process started with the loose umask, its stderr (INFO and up) captured."""
    command = [sys.executable, "-m", "hub", "-v", *(["--config", str(config)] if config else []), *args]
    return subprocess.run(["sh", "-c", f'umask {LOOSE_UMASK:03o} && exec "$@"', "sh", *command],
                          capture_output=True, text=True, timeout=120)


def loose_modes(top: Path) -> list[str]:
    """Every folder under `top` (itself included) that is not 0700 and every file that is not 0600."""
    found = []
    for folder, _folders, files in os.walk(top):
        for path, wanted in [(Path(folder), 0o700)] + [(Path(folder) / name, 0o600) for name in files]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode != wanted:
                found.append(f"{path.relative_to(top.parent)} {mode:04o}")
    return found


def test_every_file_and_folder_the_hub_writes_is_private_whatever_the_umask(tmp_path: Path,
                                                                           database_url: str) -> None:
    top = tmp_path / "srv"  # made by `hub init` too, as the office folder's parent
    office = top / "casework"
    made = hub_command("init", str(office), "--demo")
    assert made.returncode == 0, made.stderr
    config = office / "config" / "hub.toml"
    if not database_url.startswith("sqlite"):
        config.write_text(config.read_text().replace('url = "sqlite:///var/hub.db"', f'url = "{database_url}"'))
    # A message with no headers at all, delivered the way a mail server's delivery agent writes it.
    unreadable = office / "var" / "inbox" / "new" / "1700000000.unreadable.eml"
    os.close(os.open(unreadable, os.O_WRONLY | os.O_CREAT, 0o600))
    unreadable.write_bytes(b"\r\njust a line of text\r\n")
    ran = hub_command("run", "--once", config=config)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("6 messages: 2 new-case, 3 case, 1 quarantine\noutbox: 6 sent"), ran.stdout
    letter = tmp_path / "letter.eml"
    letter.write_bytes(email(sender="Dana Example <dana.example@example.org>", subject="Passport", body=BODY))
    ingested = hub_command("ingest", str(letter), config=config)
    assert ingested.returncode == 0 and ingested.stdout.startswith("1 messages: 1 new-case"), ingested.stderr
    for path in ("config/agencies.toml", "letters/README.txt", "var/hub.db", "var/inbox/.Processed/cur",
                 "var/inbox/.Quarantine/cur/1700000000.unreadable.eml:2,S", "var/sent/new", "var/sent/tmp"):
        assert (office / path).exists(), path
    assert loose_modes(top) == []

    # The daemon sends the ingested message's acknowledgement and notice, and holds SQLite's write-ahead
    # log and shared-memory files open meanwhile.
    previous = os.umask(LOOSE_UMASK)
    try:
        daemon = HubProcess(config, tmp_path / "daemon.log")
    finally:
        os.umask(previous)
    try:
        daemon.wait_for_start()
        wait_until(lambda: len(list((office / "var" / "sent" / "new").iterdir())) == 8, 30, "the two letters")
        if database_url.startswith("sqlite"):
            wait_until(lambda: all((office / "var" / f"hub.db{end}").exists() for end in ("-wal", "-shm")),
                       30, "the daemon's -wal and -shm files")
        assert loose_modes(top) == []
        assert daemon.stop()[0] == 0
    finally:
        daemon.close()


def test_an_office_made_before_is_made_private_at_the_next_command(tmp_path: Path) -> None:
    config = init_office(tmp_path / "office")
    var = tmp_path / "office" / "var"
    for path, mode in ((var, 0o755), (var / "hub.db", 0o644), (config, 0o644)):
        os.chmod(path, mode)
    shown = hub_command("cases", config=config)
    assert shown.returncode == 0, shown.stderr
    assert [stat.S_IMODE(path.stat().st_mode) for path in (var, var / "hub.db", config)] == [0o700, 0o600, 0o600]
    assert "var was open to other users (0755); now 0700" in shown.stderr


def refuse(engine: Engine, table: str, column: str, value: str) -> None:
    """Make the database refuse a new row whose `column` is `value`, the way a constraint or trigger of the
    office's own would: a trigger quoting the value (SQLite), a check constraint (PostgreSQL, whose error
    quotes the whole failing row)."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text(f"CREATE TRIGGER refuse_{column} BEFORE INSERT ON {table} "
                                    f"WHEN NEW.{column} = '{value}' "
                                    f"BEGIN SELECT RAISE(ABORT, 'refused {value}'); END"))
        else:
            connection.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT refuse_{column} "
                                    f"CHECK ({column} <> '{value}') NOT VALID"))


def assert_private(output: str) -> None:
    assert REFUSED not in output
    assert "Elm Street" not in output and "[parameters:" not in output


def test_a_message_the_database_refuses_leaves_no_address_or_text_in_the_log(hub: Hub, tmp_path: Path) -> None:
    refuse(hub.engine, "messages", "sender", REFUSED)
    eml = tmp_path / "refused.eml"
    eml.write_bytes(email(sender=f"Pat Rivera <{REFUSED}>", subject="Disability payments", body=BODY))
    ingested = hub_command("ingest", str(eml), config=tmp_path / "office" / "config" / "hub.toml")
    assert ingested.returncode == 0 and ingested.stdout.startswith("1 messages: 1 quarantine"), ingested.stderr
    log = ingested.stderr
    assert "ERROR hub.intake.pipeline: could not file a message from" in log
    assert "Traceback (most recent call last)" in log and "sqlalchemy.exc.IntegrityError" in log
    assert "[SQL parameters hidden due to hide_parameters=True]" in log
    assert "WARNING hub.intake.quarantine: quarantined item" in log
    assert_private(log)
    if hub.engine.dialect.name == "sqlite":
        assert "refused p…@example.net" in log
    else:
        assert "DETAIL:  (hidden in logs: the database quotes the row's values here)" in log
    with hub.sessions() as session:
        [item] = session.scalars(select(QuarantineItem)).all()
    # Staff see the whole reason in `hub quarantine list`.
    assert item.reason.startswith("processing failed: IntegrityError: ")
    assert (f"refused {REFUSED}" if hub.engine.dialect.name == "sqlite" else 'check constraint "refuse_sender"'
            ) in item.reason


def run_cli(capsys: pytest.CaptureFixture[str], args: Sequence[str]) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_command_the_database_refuses_is_one_line_without_the_address(
        hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    opened = feed(hub, email(sender=f"Pat Rivera <{REFUSED}>", subject="Disability payments", body=BODY))
    assert opened.fate == "new-case" and opened.case_ref
    refuse(hub.engine, "outbox", "recipient", REFUSED)
    config = str(tmp_path / "office" / "config" / "hub.toml")
    code, out, err = run_cli(capsys, ["--config", config, "letter", "send", "acknowledgement",
                                      "--case", opened.case_ref, "--force"])
    assert (code, out) == (1, "")
    [line] = err.splitlines()
    expected = ("hub: database error: refused p…@example.net" if hub.engine.dialect.name == "sqlite" else
                'hub: database error: new row for relation "outbox" violates check constraint "refuse_recipient"')
    assert line == expected + " (INSERT INTO outbox)"
    assert_private(err)

    # --verbose adds where it stopped, the statement without its values (a process of its own: pytest holds
    # this one's logging).
    verbose = subprocess.run([sys.executable, "-m", "hub", "--config", config, "--verbose", "letter", "send",
                              "acknowledgement", "--case", opened.case_ref, "--force"],
                             capture_output=True, text=True, timeout=60)
    code, out, err = verbose.returncode, verbose.stdout, verbose.stderr
    assert (code, out, err.splitlines()[-1]) == (1, "", expected + " (INSERT INTO outbox)")
    assert "Traceback (most recent call last)" in err and "INSERT INTO outbox" in err
    assert "[SQL parameters hidden due to hide_parameters=True]" in err
    assert_private(err)
