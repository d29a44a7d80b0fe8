"""`hub run` under systemd's notify protocol, as a real daemon process against a private Dovecot, with a
datagram socket of the test's own as $NOTIFY_SOCKET: READY=1 comes once the inbox's IDLE connection is up
(its STATUS is the start line, which says so), WATCHDOG=1 pings follow at half $WATCHDOG_USEC, stop while
the inbox cannot be reached (its job goes stale) and come back with it, and SIGTERM says STOPPING=1. The
IMAP password comes from $CREDENTIALS_DIRECTORY, as the shipped unit's LoadCredential= gives it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import make_office
from tests.hub_process import HubProcess, wait_until
from tests.notify_socket import Listener, listening
from tests.servers.dovecot import DovecotServer

pytestmark = pytest.mark.integration

WATCHDOG_SECONDS = 1.0  # a ping every half second


@pytest.fixture
def listener() -> Iterator[Listener]:
    with listening("systemd") as found:
        yield found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_ready_after_the_inbox_connects_pings_while_healthy_silence_while_stale_and_stopping_on_sigterm(
        tmp_path: Path, database_url: str, dovecot: DovecotServer, listener: Listener,
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub = make_office(tmp_path / "office", database_url, inbox_url=dovecot.imap_url())
    hub.close()
    config = hub.config.path
    config.write_text(config.read_text().replace("# poll_seconds = 60\n", "poll_seconds = 1\n", 1))
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "HUB_INBOX_PASSWORD").write_text(dovecot.password + "\n")
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": str(int(WATCHDOG_SECONDS * 1e6)),
           "CREDENTIALS_DIRECTORY": str(credentials)}
    monkeypatch.delenv("HUB_INBOX_PASSWORD", raising=False)  # the credential alone
    daemon = HubProcess(config, tmp_path / "hub.log", env)
    try:
        start = daemon.wait_for_start()
        wait_until(lambda: bool(listener.fields("READY=1")), 10, "READY=1")
        (_, ready), = listener.fields("READY=1")
        assert ready == f"READY=1\nSTATUS={start}"
        assert "(IDLE, and checked every 1 s)" in start, "READY before the inbox's IDLE connection was up"

        wait_until(lambda: listener.pings_since(time.monotonic() - 2) >= 3, 10, "watchdog pings")
        dovecot.stop()
        stopped = time.monotonic()
        # The inbox's job fails from now on: stale after twice its interval (2 s), and then no more pings.
        wait_until(lambda: bool(listener.fields("STATUS=degraded")), 15, "the watchdog falling silent")
        silent = listener.fields("STATUS=degraded")[0][0]
        assert listener.pings_since(stopped) <= 2 * 2 / WATCHDOG_SECONDS + 1, "pings long after the inbox went"
        assert "job inbox: stale: no success for" in listener.fields("STATUS=degraded")[0][1]
        time.sleep(2 * WATCHDOG_SECONDS)
        assert listener.pings_since(silent + 0.05) == 0, "pings while the inbox's job is stale"

        dovecot.start()
        back = time.monotonic()
        wait_until(lambda: listener.pings_since(back) >= 2, 60, "pings again once the inbox answers")

        code, _ = daemon.stop(timeout=15)
        assert code == 0, daemon.stderr()
        wait_until(lambda: bool(listener.fields("STOPPING=1")), 5, "STOPPING=1")
    finally:
        daemon.close()
    log = daemon.stderr()
    assert "watchdog: not telling systemd all is well, which restarts the hub: job inbox: stale" in log
    assert "watchdog: the jobs run again" in log
