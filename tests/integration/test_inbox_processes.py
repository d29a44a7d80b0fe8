"""Several hub processes on one inbox and one database (issue 18, target 3), on SQLite and PostgreSQL.

What these tests prove:

- Two `hub run --once` started at once on one IMAP inbox both exit 0 without a traceback; every message
  is filed once, and the Processed folder holds each message once (one of them reads the mailbox; the
  other skips it: the inbox lease, hub.core.leases).
- Two daemons on one inbox: one reads it and watches it with IDLE, the other says once that it leaves the
  inbox alone and keeps no connection to the mailbox; when the reader is killed (SIGKILL) the other takes
  over within 30 s, files the mail that arrives after the kill, and from then on sees new mail through IDLE;
  `hub status` names the process that holds the inbox's lease.
A message another client moved away between our fetch and our move: tests/integration/test_imap.py.
Two `hub db upgrade` at once on a new database: tests/integration/test_schema_upgrade.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from email import message_from_bytes
from pathlib import Path

import pytest
from imapclient import IMAPClient

from hub.core.app import Hub, open_hub
from hub.core.leases import holder_of
from hub.run.cycle import inbox_lease_name
from hub.run.status import status_lines
from tests.helpers import email, make_office, tally
from tests.hub_process import HubProcess, connections_to, wait_until
from tests.servers.dovecot import DovecotServer

pytestmark = pytest.mark.integration

TAKEOVER = 30.0  # the longest a dead holder may keep another process from the inbox


def office_config(tmp_path: Path, database_url: str, dovecot: DovecotServer, settings: str = "") -> Path:
    hub = make_office(tmp_path / "office", database_url, inbox_url=dovecot.imap_url())
    hub.close()
    config = hub.config.path
    text = config.read_text().replace("batch_size = 250", "batch_size = 50")
    config.write_text(text.replace("# poll_seconds = 60\n", settings or "# poll_seconds = 60\n", 1))
    return config


def processed_ids(server: DovecotServer, folder: str = "Processed") -> Counter[str]:
    """The Message-IDs in `folder`, counted: a message filed twice shows as 2."""
    with IMAPClient(server.host, port=server.port, ssl=False) as client:
        client.login(server.user, server.password)
        if not client.folder_exists(folder):
            return Counter()
        client.select_folder(folder, readonly=True)
        uids = client.search()
        headers = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
        return Counter(str(message_from_bytes(data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"])["Message-ID"])
                       for data in headers.values())


def inbox_count(server: DovecotServer) -> int:
    with IMAPClient(server.host, port=server.port, ssl=False) as client:
        client.login(server.user, server.password)
        return int(client.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"])


def letters(count: int, tag: str) -> list[bytes]:
    return [email(sender=f"p{n}@example.com", message_id=f"<{tag}{n}@example.com>", subject=f"Problem {tag}{n}",
                  body=f"case {n}\n" * 20) for n in range(count)]


def test_two_runs_at_once_on_one_inbox_file_each_message_once(
        tmp_path: Path, dovecot: DovecotServer, database_url: str) -> None:
    total = 400
    dovecot.deliver_many(letters(total, "two"))
    config = office_config(tmp_path, database_url, dovecot)
    env = {**os.environ, "HUB_INBOX_PASSWORD": dovecot.password}
    command = [sys.executable, "-m", "hub", "--config", str(config), "run", "--once"]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(run.wait(300), *run.communicate()) for run in runs]

    for code, out, err in results:
        assert code == 0 and "Traceback" not in err, (code, out, err)
    hub = open_hub(config)
    try:
        counts = tally(hub)
        assert (counts.messages, counts.cases, counts.quarantine) == (total, total, 0)
    finally:
        hub.close()
    filed = processed_ids(dovecot)
    assert len(filed) == total and set(filed.values()) == {1}, "each message in Processed once"
    assert inbox_count(dovecot) == 0


def test_a_killed_holder_hands_the_inbox_to_the_other_daemon_within_30_s(
        tmp_path: Path, dovecot: DovecotServer, database_url: str) -> None:
    config = office_config(tmp_path, database_url, dovecot, "poll_seconds = 600\n")
    env = {"HUB_INBOX_PASSWORD": dovecot.password}
    hub: Hub = open_hub(config)
    name = inbox_lease_name(hub)
    daemons = [HubProcess(config, tmp_path / f"hub{n}.log", env) for n in range(2)]
    try:
        for daemon in daemons:
            daemon.wait_for_start()
        wait_until(lambda: _holder_pid(hub, name) in {d.process.pid for d in daemons}, 30, "a holder")
        holder = next(d for d in daemons if d.process.pid == _holder_pid(hub, name))
        other = next(d for d in daemons if d is not holder)
        dovecot.deliver_many(letters(5, "before"))
        wait_until(lambda: tally(hub).messages == 5, 30, "the holder files the first mail")
        wait_until(lambda: "another hub process reads it" in other.stderr(), 30, "the other's line")
        # The reader watches the mailbox (IDLE); the other keeps no connection to it at all.
        wait_until(lambda: connections_to(holder.process.pid, dovecot.port) == 1, 10, "the reader's IDLE")
        time.sleep(2)  # more than an IDLE watcher's tick
        assert connections_to(other.process.pid, dovecot.port) == 0

        holder.process.send_signal(signal.SIGKILL)
        holder.process.wait(10)
        killed_at = time.monotonic()
        dovecot.deliver_many(letters(5, "after"))
        wait_until(lambda: tally(hub).messages == 10, TAKEOVER + 10, "the other daemon files the later mail")
        assert time.monotonic() - killed_at < TAKEOVER
        dovecot.deliver_many(letters(1, "watched"))  # the inbox is checked every 10 minutes: IDLE files it
        wait_until(lambda: tally(hub).messages == 11, 15, "the new reader's IDLE sees new mail")
        assert _holder_pid(hub, name) == other.process.pid
        said = [line for line in status_lines(hub) if line.startswith(f"lease {name}: ")]
        assert len(said) == 1 and f" pid {other.process.pid} since " in said[0], said
        code, _ = other.stop()
        assert code == 0
        assert other.stderr().count("another hub process reads it") == 1, "said once, not per cycle"
        assert "Traceback" not in other.stderr()
    finally:
        for daemon in daemons:
            daemon.close()
        hub.close()
    filed = processed_ids(dovecot)
    assert len(filed) == 11 and set(filed.values()) == {1}


def _holder_pid(hub: Hub, name: str) -> int | None:
    with hub.sessions() as session:
        found = holder_of(session, name)
    return found.pid if found is not None and found.live else None
