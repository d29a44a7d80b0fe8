"""`hub run` and `hub check` with OAuth 2.0 logins: a private Dovecot whose oauth2 passdb introspects each
token at the local authorization server, aiosmtpd judging XOAUTH2 tokens there too, and tokens that live
three seconds, so that a short run sees many of them come and go.

What these tests prove:
- the IDLE watcher logs in again with a new token before its token expires, and still hears new mail;
- the daemon files and acknowledges every message delivered across many token renewals, each exactly
  once, and never logs in with an expired token (Dovecot and aiosmtpd would refuse it);
- `hub check` prints one line per system and exits 0 when all answered, 1 with the provider's error when
  the secret is wrong.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.core.config_oauth2 import OAuth2
from hub.oauth2.source import TokenSource, provider_for
from hub.sources.imap import ImapAddress
from hub.sources.imap_idle import IdleWatcher
from tests.hub_process import running_hub, wait_until
from tests.integration.test_daemon import ARRIVAL, STOPPED, Office, acknowledged, assert_each_once, constituent
from tests.integration.test_daemon import office_for as daemon_office
from tests.servers.dovecot import DovecotServer
from tests.servers.oauth2 import SECRET_ENV, OAuthServer
from tests.servers.smtp import SmtpServer, running_smtp

pytestmark = pytest.mark.integration
LIFETIME = 3.0


@pytest.fixture(autouse=True)
def short_tokens(oauth: OAuthServer) -> None:
    oauth.lifetime = LIFETIME


@pytest.fixture
def oauth_smtp(oauth: OAuthServer) -> Iterator[SmtpServer]:
    with running_smtp(tls="starttls", oauth2=oauth.is_valid) as server:
        yield server


def oauth_office(tmp_path: Path, database_url: str, dovecot: DovecotServer, smtp: SmtpServer,
                 oauth: OAuthServer) -> Office:
    """An office whose inbox and outbound server both log in with tokens from the generic provider."""
    office = daemon_office(tmp_path, database_url, dovecot, None, {
        "# poll_seconds = 60\n": "poll_seconds = 600\n",
        '''password_env = "HUB_INBOX_PASSWORD"\n''': '''password_env = "HUB_INBOX_PASSWORD"\nauth = "oauth2"\n''',
        'url = "maildir:var/sent"': f'url = "{smtp.url("hub")}"',
        '''password_env = "HUB_SMTP_PASSWORD"\n''': '''password_env = "HUB_SMTP_PASSWORD"\nauth = "oauth2"\n''',
        'ca_file = ""': f'ca_file = "{smtp.ca_file}"',
        "# One [[staff]] table": f'[oauth2]\nprovider = "generic"\ntoken_url = "{oauth.token_url}"\n'
                                f'client_id = "{oauth.client_id}"\nclient_secret_env = "{SECRET_ENV}"\n'
                                'scope = "mail"\n\n# One [[staff]] table'})
    office.env.clear()  # no password at all: tokens only
    office.env.update({"REQUESTS_CA_BUNDLE": str(oauth.ca_file), SECRET_ENV: oauth.client_secret})
    return office


def test_the_watcher_logs_in_again_before_its_token_expires(oauth: OAuthServer,
                                                            oauth_dovecot: DovecotServer) -> None:
    tokens = TokenSource(provider_for(OAuth2("generic", "mail", client_id=oauth.client_id,
                                             client_secret_env=SECRET_ENV, token_url=oauth.token_url)))
    woken = threading.Event()
    watcher = IdleWatcher(ImapAddress.parse(oauth_dovecot.imap_url()), None, woken.set,
                          on_fatal=lambda error: pytest.fail(str(error)), tokens=tokens)
    watcher.start()
    try:
        assert watcher.ready.wait(30) and watcher.state == "idle"
        wait_until(lambda: watcher.logins >= 3, 4 * LIFETIME, "three logins, each with a new token")
        woken.clear()
        dovecot_logins = watcher.logins
        oauth_dovecot.deliver(constituent(0))
        assert woken.wait(ARRIVAL), "no wake-up for the new message"
    finally:
        watcher.stop()
    assert watcher.state == "stopped" and dovecot_logins >= 3
    used = [token for token, _ in oauth.introspections]
    assert len(set(used)) == len(used) >= 3, "each login with a new token"
    assert all(active for _, active in oauth.introspections), "no login with an expired token"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_daemon_files_and_answers_across_token_renewals(tmp_path: Path, database_url: str, oauth: OAuthServer,
                                                             oauth_dovecot: DovecotServer,
                                                             oauth_smtp: SmtpServer) -> None:
    office = oauth_office(tmp_path, database_url, oauth_dovecot, oauth_smtp, oauth)
    people = 6
    try:
        with running_hub(office.config, office.log, office.env) as daemon:
            assert "(IDLE, and checked every 600 s)" in daemon.lines[0], daemon.lines
            for n in range(people):
                oauth_dovecot.deliver(constituent(n))
                wait_until(lambda n=n: acknowledged(oauth_smtp, n), ARRIVAL, f"the acknowledgement of message {n}")
                time.sleep(LIFETIME / 2)
            code, _ = daemon.stop(timeout=STOPPED)
        assert code == 0, daemon.stderr()
        assert_each_once(office, oauth_smtp, people)
    finally:
        office.hub.close()
    log = daemon.stderr()
    assert "Traceback" not in log and "WARNING" not in log, log
    assert log.count("the access token is due for renewal: logging in again") >= 2, log
    assert len(oauth.issued) >= 4, "the run outlived several tokens"
    assert not any(issued.token in log for issued in oauth.issued) and oauth.client_secret not in log
    assert all(active for _, active in oauth.introspections), "no login with an expired token"
    assert {mechanism for mechanism, _, _ in oauth_smtp.oauth_logins} == {"XOAUTH2"}


def hub_check(office: Office, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", "--config", str(office.config), "check"],
                          env={**env}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_hub_check_tries_each_login_and_says_what_worked(tmp_path: Path, database_url: str, oauth: OAuthServer,
                                                         oauth_dovecot: DovecotServer,
                                                         oauth_smtp: SmtpServer) -> None:
    office = oauth_office(tmp_path, database_url, oauth_dovecot, oauth_smtp, oauth)
    office.hub.close()
    env = {**os.environ, **office.env}
    passed = hub_check(office, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    lines = passed.stdout.splitlines()
    assert [line.split(":", 2)[:2] for line in lines] == [
        ["database", " ok"], ["inbox", " ok"], ["outbound", " ok"], ["sms", " ok"]], lines
    assert lines[1].endswith("logged in as hub with OAuth 2.0 token, OAUTHBEARER; 0 messages in INBOX; IDLE offered")
    assert lines[2].endswith("logged in as hub with XOAUTH2; no message sent")
    assert lines[3] == "sms: ok: no SMS line configured"
    assert oauth_smtp.messages == [], "nothing is sent"

    env[SECRET_ENV] = "wrong"
    failed = hub_check(office, env)
    assert failed.returncode == 1 and failed.stderr == ""
    lines = failed.stdout.splitlines()
    assert lines[0].startswith("database: ok") and lines[3].startswith("sms: ok")
    for line in lines[1:3]:
        assert ": FAILED: [oauth2] generic: token refused: invalid_client: Client authentication failed; " in line
