"""The hub's web app (hub.run.web) on real uvicorn and loopback sockets, on SQLite and PostgreSQL.

What these tests prove:

- /healthz answers 200 while the process runs; /readyz answers 200 while the database answers and 503
  when it does not (a PostgreSQL URL to a port nobody listens on), /healthz still 200 then.
- `hub run` with [web] hosts the app in the daemon: its start line names the address, a text POSTed to
  the webhook while it runs lands on a case, and SIGTERM stops the daemon and the web server with exit 0
  within 5 s, no traceback, the port closed.
- [web] listen takes HOST:PORT (IPv4, [IPv6], or an empty host); anything else, and a misspelt key, is a
  one-line error naming the key; a port already in use is a one-line error from `hub web`.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.core import config
from hub.core.app import Hub
from hub.core.db import make_engine, session_factory
from hub.core.errors import ConfigError
from hub.run.office import init_office
from hub.run.web import web_app
from tests.helpers import make_office
from tests.hub_process import HubProcess, wait_until
from tests.integration.test_sms_durability import PAT, PUBLIC_URL, TOKEN_ENV, inbound, sms_office, webhook_form
from tests.integration.test_sms_webhook import post, signature_of
from tests.servers.twilio import FakeTwilio, running_twilio
from tests.web_thread import ServedApp

pytestmark = pytest.mark.integration
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
STOP_LIMIT = 5.0
READY_LIMIT = 15.0  # the answer's deadline is 5 s; a hung request would wait for the driver forever


def get(port: int, path: str, timeout: float = 30) -> tuple[int, str]:
    try:
        with OPENER.open(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with running_twilio(number="+15555550100") as server:
        yield server


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_healthz_and_readyz_while_the_database_answers(hub: Hub) -> None:
    served = ServedApp(web_app(hub))
    try:
        assert get(served.port, "/healthz") == (200, "ok\n")
        assert get(served.port, "/readyz") == (200, "ready\n")
        status, text = get(served.port, "/metrics")
        assert status == 200 and "hub_healthy 0.0" in text, "the daemon has not run here"
        assert get(served.port, "/twilio/sms")[0] == 404  # no [sms] webhook_url: no webhook
    finally:
        assert served.stop() is False


def test_readyz_is_503_while_the_database_does_not_answer(hub: Hub) -> None:
    engine = make_engine(f"postgresql+psycopg://hub@127.0.0.1:{closed_port()}/hub")
    down = Hub(replace(hub.config, database_url=str(engine.url)), engine, session_factory(engine), hub.clock)
    served = ServedApp(web_app(down))
    try:
        assert get(served.port, "/readyz") == (503, "the database does not answer\n")
        assert get(served.port, "/healthz") == (200, "ok\n")
    finally:
        served.stop()
        engine.dispose()


def test_readyz_is_503_soon_while_the_database_server_accepts_and_never_answers(hub: Hub) -> None:
    """A server that takes the connection and then says nothing (a hung host, a full backlog behind a proxy):
    readiness is an answer within seconds, not a request left hanging on the driver."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        engine = make_engine(f"postgresql+psycopg://hub@127.0.0.1:{silent.getsockname()[1]}/hub")
        hung = Hub(replace(hub.config, database_url=str(engine.url)), engine, session_factory(engine), hub.clock)
        served = ServedApp(web_app(hung))
        try:
            assert get(served.port, "/readyz", timeout=READY_LIMIT) == (503, "the database does not answer\n")
        finally:
            served.stop()
            engine.dispose()


def test_hub_run_hosts_the_web_app_and_stops_on_sigterm(tmp_path: Path, database_url: str,
                                                         twilio: FakeTwilio) -> None:
    hub = sms_office(tmp_path / "office", database_url, twilio, webhook_url=PUBLIC_URL, poll=False,
                     tables='\n[web]\nlisten = "127.0.0.1:0"\n')
    daemon = HubProcess(hub.config.path, tmp_path / "daemon.log", {TOKEN_ENV: twilio.auth_token})
    try:
        start = daemon.wait_for_start()
        assert start.startswith("hub running: ") and ", web 127.0.0.1:" in start, start
        port = int(start.rpartition(", web 127.0.0.1:")[2].split(";")[0])
        assert get(port, "/healthz") == (200, "ok\n") and get(port, "/readyz")[0] == 200

        body = "My pension payment stopped"
        sid = twilio.text_office(PAT, body, date_sent=hub.clock.now())
        form = list(webhook_form(twilio, sid, PAT, body).items())
        assert post(port, form, signature_of(twilio.auth_token, form)) == 200
        (message,) = inbound(hub)
        assert message.dedupe_key == f"twilio:{sid}" and message.case_id is not None

        # Prometheus reads the daemon's own counts and the database's at /metrics.
        status, text = get(port, "/metrics")
        families = {family.name: family for family in text_string_to_metric_families(text)}
        assert status == 200 and families["hub_database_up"].samples[0].value == 1
        assert [(s.labels, s.value) for s in families["hub_messages"].samples if s.name == "hub_messages_total"] \
            == [({"fate": "new-case"}, 1.0)]
        assert "hub_job_last_success_timestamp_seconds" in families

        code, seconds = daemon.stop()
        assert code == 0 and seconds < STOP_LIMIT, (code, seconds)
        assert "Traceback" not in daemon.stderr()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        daemon.close()
        hub.close()


def office_with(tmp_path: Path, table: str) -> Path:
    path = init_office(tmp_path / "office")
    path.write_text(path.read_text() + table)
    return path


@pytest.mark.parametrize(("listen", "address"), [
    ("127.0.0.1:8025", ("127.0.0.1", 8025)), ("[::1]:9000", ("::1", 9000)), (":8080", ("127.0.0.1", 8080)),
    ("0.0.0.0:0", ("0.0.0.0", 0))])
def test_web_listen_takes_host_and_port(tmp_path: Path, listen: str, address: tuple[str, int]) -> None:
    loaded = config.load(office_with(tmp_path, f'\n[web]\nlisten = "{listen}"\n'))
    assert loaded.web is not None and loaded.web.address == address


@pytest.mark.parametrize(("table", "problem"), [
    ('listen = "8025"', "[web] listen: expected HOST:PORT (such as 127.0.0.1:8025), got '8025'"),
    ('listen = "localhost:http"', "[web] listen: expected HOST:PORT"),
    ('listen = "127.0.0.1:70000"', "[web] listen: expected HOST:PORT"),
    ('listen = 8025', "[web] listen"),
    ('lisen = "127.0.0.1:8025"', "lisen"),
])
def test_a_bad_web_key_is_one_line_naming_it(tmp_path: Path, table: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config.load(office_with(tmp_path, f"\n[web]\n{table}\n"))
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        hub = make_office(tmp_path / "office", f"sqlite:///{tmp_path / 'hub.db'}",
                          tables=f'\n[web]\nlisten = "127.0.0.1:{port}"\n')
        hub.close()
        done = subprocess.run([sys.executable, "-m", "hub", "--config", str(hub.config.path), "web"],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [f"hub: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_hub_web_without_a_webhook_serves_health_and_stops(tmp_path: Path) -> None:
    hub = make_office(tmp_path / "office", f"sqlite:///{tmp_path / 'hub.db'}", tables='\n[web]\nlisten = ":0"\n')
    process = HubProcess(hub.config.path, tmp_path / "web.log", command=("web",))
    try:
        start = process.wait_for_start()
        assert start.startswith("listening on 127.0.0.1:") and "/healthz and /readyz" in start, start
        port = int(start.split()[2].rpartition(":")[2])
        wait_until(lambda: get(port, "/healthz")[0] == 200, 10, "healthz")
        code, seconds = process.stop(number=signal.SIGINT)
        assert code == 0 and seconds < STOP_LIMIT
    finally:
        process.close()
        hub.close()
