"""OAuth 2.0 logins: msal, google-auth and the generic RFC 6749 client, unmodified, against a local
authorization server (tests/servers/oauth2.py, over TLS from a throwaway CA that requests is pointed at
with REQUESTS_CA_BUNDLE); a private Dovecot whose oauth2 passdb introspects every token at that server,
and aiosmtpd judging XOAUTH2 and OAUTHBEARER tokens the same way.

What these tests prove:
- each provider (Microsoft with a secret and with a certificate, Google's service account with
  domain-wide delegation, the client-credentials and refresh-token grants) gets a token Dovecot accepts,
  over OAUTHBEARER where it is offered and XOAUTH2 where it is not; Dovecot refuses an expired token;
- the token is kept while it is fresh and fetched again before it expires;
- a refused request is one line with the provider's own error and what to check, and a mailbox that
  refuses the token is named with what to check; a busy or unreachable token endpoint is temporary,
  asked again after growing pauses;
- letters go over SMTP with XOAUTH2 (and OAUTHBEARER), across token renewals.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from hub.core.config_oauth2 import DEFAULT_SCOPES, MICROSOFT_AUTHORITY, OAuth2
from hub.core.errors import ConfigError, TemporaryError
from hub.delivery.smtp import SmtpAddress, SmtpLoginRefused, SmtpSender
from hub.oauth2.source import TokenSource, provider_for
from hub.oauth2.token import TokenRefused, TokenUnavailable
from hub.sources.imap import ImapAddress, connect_and_log_in
from tests.helpers import email
from tests.servers.dovecot import DovecotServer, require_dovecot, running_dovecot
from tests.servers.oauth2 import REFRESH_ENV, SECRET_ENV, OAuthServer, certificate_key
from tests.servers.smtp import running_smtp

pytestmark = pytest.mark.integration
SUBJECT = "casework@doe.example.gov"


def microsoft(server: OAuthServer, **changes: str) -> OAuth2:
    settings = {"tenant": server.tenant, "client_id": server.client_id, "client_secret_env": SECRET_ENV,
                "authority": server.base, **changes}
    return OAuth2("microsoft", DEFAULT_SCOPES["microsoft"], **settings)


def generic(server: OAuthServer, **changes: str) -> OAuth2:
    settings = {"client_id": server.client_id, "client_secret_env": SECRET_ENV, "token_url": server.token_url,
                **changes}
    return OAuth2("generic", "mail", **settings)


def google(server: OAuthServer, folder: Path, subject: str = SUBJECT, delegated: str = SUBJECT) -> OAuth2:
    """A service account key made here, its public key registered at the server with the delegated subject."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account = "hub-mail@doe-office.iam.gserviceaccount.com"
    server.service_accounts[account] = (key.public_key(), delegated)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = folder / "service-account.json"
    path.write_text(json.dumps({"type": "service_account", "project_id": "doe-office", "private_key_id": "k1",
                                "private_key": pem, "client_email": account, "client_id": "1234567890",
                                "token_uri": server.token_url}))
    return OAuth2("google", DEFAULT_SCOPES["google"], service_account_file=str(path), subject=subject)


def certificate(server: OAuthServer, folder: Path, thumbprint: bool) -> OAuth2:
    """A certificate made here, uploaded (registered) for the app at the server."""
    leaf = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert("hub-app.doe.example.gov", key_type=trustme.KeyType.RSA)
    cert_pem = leaf.cert_chain_pems[0].bytes()
    server.certificates[server.client_id] = certificate_key(cert_pem)
    path = folder / "hub-app.pem"
    path.write_bytes(leaf.private_key_and_cert_chain_pem.bytes())
    sha1 = hashlib.sha1(x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER))
    return microsoft(server, client_secret_env="", certificate_file=str(path),
                     certificate_thumbprint=sha1.hexdigest().upper() if thumbprint else "")


def source(settings: OAuth2, **options: float) -> TokenSource:
    return TokenSource(provider_for(settings), **options)  # type: ignore[arg-type]


# --- each provider, against Dovecot -------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["microsoft", "microsoft-certificate", "microsoft-sha256", "google",
                                      "generic", "generic-refresh"])
def test_each_provider_gets_a_token_dovecot_accepts(provider: str, oauth: OAuthServer, oauth_dovecot: DovecotServer,
                                                    tmp_path: Path) -> None:
    settings = {"microsoft": lambda: microsoft(oauth),
                "microsoft-certificate": lambda: certificate(oauth, tmp_path, thumbprint=True),
                "microsoft-sha256": lambda: certificate(oauth, tmp_path, thumbprint=False),
                "google": lambda: google(oauth, tmp_path),
                "generic": lambda: generic(oauth),
                "generic-refresh": lambda: generic(oauth, client_secret_env="", refresh_token_env=REFRESH_ENV),
                }[provider]()
    oauth_dovecot.deliver(email())
    client, login = connect_and_log_in(ImapAddress.parse(oauth_dovecot.imap_url()), None, 10, source(settings))
    try:
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 1
    finally:
        client.logout()
    assert login.mechanism == "OAUTHBEARER" and login.token is not None
    assert [issued.token for issued in oauth.issued] == [login.token.value]
    assert oauth.introspections == [(login.token.value, True)], "Dovecot asked the server about the token"


def test_xoauth2_where_the_server_offers_no_oauthbearer(tmp_path: Path, oauth: OAuthServer) -> None:
    require_dovecot()
    with running_dovecot(tmp_path / "dovecot") as dovecot:
        dovecot.stop()
        dovecot.introspection_url, dovecot.oauth2_mechanisms = oauth.introspection_url, ("xoauth2",)
        dovecot.start()
        client, login = connect_and_log_in(ImapAddress.parse(dovecot.imap_url()), None, 10, source(microsoft(oauth)))
        client.logout()
    assert login.mechanism == "XOAUTH2"


def test_dovecot_refuses_an_expired_token(oauth: OAuthServer, oauth_dovecot: DovecotServer) -> None:
    oauth.lifetime = 1.0
    token = source(generic(oauth)).token()
    time.sleep(1.2)
    client = IMAPClient(oauth_dovecot.host, oauth_dovecot.port, ssl=False)
    with pytest.raises(LoginError):
        client.oauth2_login(oauth_dovecot.user, token.value)
    client.logout()
    assert oauth.introspections == [(token.value, False)]


# --- the cache ------------------------------------------------------------------------------------------


def test_a_token_is_kept_while_fresh_and_fetched_again_before_it_expires(oauth: OAuthServer) -> None:
    oauth.lifetime = 2.0
    tokens = source(microsoft(oauth))
    first = tokens.token()
    assert tokens.token() is first and len(oauth.issued) == 1
    time.sleep(1.6)  # a quarter of its life (0.5 s) before it expires, it is due
    second = tokens.token()
    assert second.value != first.value and time.time() < first.expires_at
    assert len(oauth.issued) == 2
    tokens.forget(second)  # a server refused it
    assert tokens.token().value not in (first.value, second.value)


# --- refusals and outages --------------------------------------------------------------------------------


def refusal(settings: OAuth2) -> str:
    with pytest.raises(TokenRefused) as caught:
        source(settings).token()
    line = str(caught.value)
    assert "\n" not in line and "Trace ID" not in line
    return line


def test_a_wrong_secret_is_one_line_with_entras_error_and_what_to_check(oauth: OAuthServer,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    line = refusal(microsoft(oauth))
    assert line.startswith("[oauth2] microsoft: token refused: invalid_client: AADSTS7000215: Invalid client "
                           "secret provided."), line
    assert line.endswith("; check the client secret: its value, not its ID, in the variable [oauth2] "
                         "client_secret_env names")
    assert "not-the-secret" not in line


def test_other_refusals_name_the_providers_error(oauth: OAuthServer, tmp_path: Path) -> None:
    assert "AADSTS90002: Tenant 'no-such-tenant' not found" in refusal(microsoft(oauth, tenant="no-such-tenant"))
    assert "AADSTS700016" in refusal(microsoft(oauth, client_id="someone-else"))
    line = refusal(google(oauth, tmp_path, subject="stranger@doe.example.gov"))
    assert line.startswith("[oauth2] google: token refused: unauthorized_client: Client is unauthorized") and \
        "domain-wide delegation" in line, line
    settings = google(oauth, tmp_path)
    oauth.service_accounts = {name: (rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(),
                                     SUBJECT) for name in oauth.service_accounts}  # another key was uploaded
    assert refusal(settings).startswith("[oauth2] google: token refused: invalid_grant: Invalid JWT Signature")
    assert refusal(generic(oauth, client_secret_env="", refresh_token_env=REFRESH_ENV,
                           client_id="other")).startswith("[oauth2] generic: token refused: invalid_client")


def test_a_missing_secret_variable_is_a_configuration_error(oauth: OAuthServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV)
    for settings in (microsoft(oauth), generic(oauth)):
        with pytest.raises(ConfigError, match=f"client_secret_env: the environment variable {SECRET_ENV} "):
            source(settings).token()


def test_a_mailbox_that_refuses_the_token_is_named_with_what_to_check(oauth: OAuthServer,
                                                                      oauth_dovecot: DovecotServer) -> None:
    oauth.mailbox = "someone-else"  # the app may open another mailbox only
    with pytest.raises(ConfigError) as caught:
        connect_and_log_in(ImapAddress.parse(oauth_dovecot.imap_url()), None, 10, source(microsoft(oauth)))
    assert str(caught.value).startswith(f"[inbox] imap:hub@127.0.0.1:{oauth_dovecot.port}/INBOX: the server "
                                        f"refused the OAuth 2.0 token for hub: ")
    assert "Add-MailboxPermission" in str(caught.value)
    assert len(oauth.issued) == 2, "a refused token is fetched again once"


@pytest.mark.parametrize("make", [generic, microsoft])
def test_a_busy_token_endpoint_is_asked_again_after_growing_pauses(make: object, oauth: OAuthServer) -> None:
    oauth.fail_next(2)  # 503 temporarily_unavailable, Retry-After: 1 (msal keeps such an answer that long)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        time.sleep(seconds)
    tokens = TokenSource(provider_for(make(oauth)), first_pause=1.1, sleep=sleep)  # type: ignore[operator]
    assert tokens.token().value == oauth.issued[0].token
    assert pauses == [1.1, 2.2] and oauth.token_requests == 3


def test_an_unreachable_token_endpoint_is_temporary(oauth: OAuthServer) -> None:
    settings = microsoft(oauth)
    oauth.stop()
    pauses: list[float] = []
    with pytest.raises(TokenUnavailable) as caught:
        TokenSource(provider_for(settings), attempts=3, sleep=pauses.append).token()
    assert isinstance(caught.value, TemporaryError) and pauses == [1.0, 2.0]
    assert str(caught.value).startswith(f"[oauth2] microsoft: no token for now: {oauth.base}/{oauth.tenant}: "
                                        "ConnectionError")
    assert MICROSOFT_AUTHORITY.startswith("https://login.microsoftonline.com")


# --- SMTP -------------------------------------------------------------------------------------------------


def send(url: str, ca_file: Path | None, tokens: TokenSource, count: int = 1) -> str:
    async def go() -> str:
        async with SmtpSender(SmtpAddress.parse(url), None, ca_file, 10, tokens=tokens) as sender:
            for n in range(count):
                await sender.send(email(subject=f"Letter {n}"), "casework@doe.example.gov", "pat@example.com")
            return sender.login
    return asyncio.run(go())


@pytest.mark.parametrize("bearer", [False, True])
def test_letters_go_over_smtp_with_a_token_across_renewals(bearer: bool, oauth: OAuthServer) -> None:
    oauth.lifetime = 2.0
    tokens = source(microsoft(oauth))
    with running_smtp(tls="starttls", oauth2=oauth.is_valid, oauthbearer=bearer) as smtp:
        url = smtp.url("hub")
        assert send(url, smtp.ca_file, tokens, count=2) == ("OAUTHBEARER" if bearer else "XOAUTH2")
        time.sleep(1.6)
        send(url, smtp.ca_file, tokens)  # the next delivery pass: a new token
        assert len(smtp.messages) == 3 and {message.login for message in smtp.messages} == {"hub"}
        used = [token for _, _, token in smtp.oauth_logins]
    assert len(used) == 2 and used[0] != used[1] == oauth.issued[1].token
    assert all(active for _, active in oauth.introspections)


def test_an_smtp_server_that_refuses_the_token_is_a_refused_login(oauth: OAuthServer) -> None:
    oauth.mailbox = "someone-else"
    with running_smtp(tls="starttls", oauth2=oauth.is_valid) as smtp:
        with pytest.raises(SmtpLoginRefused) as caught:
            send(smtp.url("hub"), smtp.ca_file, source(microsoft(oauth)))
        assert smtp.messages == [] and len(smtp.oauth_logins) == 2
    assert str(caught.value).startswith(f"{smtp.url('hub')}: the OAuth 2.0 token refused for hub: 535 5.7.3 "
                                        "Authentication unsuccessful; check the application's SMTP.SendAsApp")
