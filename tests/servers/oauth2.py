"""A small OAuth 2.0 authorization server on loopback that speaks what msal, google-auth and a plain RFC 6749
client ask for, and introspects its tokens for the mail servers (Dovecot's oauth2 passdb, aiosmtpd).

Over HTTPS (a throwaway trustme CA: point requests at ``server.ca_file`` with REQUESTS_CA_BUNDLE):

- ``GET /TENANT/v2.0/.well-known/openid-configuration``: Entra's tenant discovery, as msal reads it;
- ``POST /TENANT/oauth2/v2.0/token``: Entra's client-credentials grant, with the client secret or a
  certificate's signed client assertion; Entra's own errors (AADSTS7000215, AADSTS90002, …);
- ``POST /token``: the client-credentials and refresh-token grants, and Google's JWT-bearer grant of a
  service account (the assertion checked against its public key, ``sub`` and ``scope`` against what was
  delegated), with Google's errors (invalid_grant, unauthorized_client).

Over plain HTTP, ``POST /introspect`` (``token=…``, RFC 7662) answers ``{"active": …, "username": …}`` for
Dovecot. Each token grants the mailbox ``mailbox`` and lives ``lifetime`` seconds; ``fail_next`` makes the
token endpoints answer 503 ``temporarily_unavailable`` for a while.
"""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import trustme
from cryptography import x509

HOST = "127.0.0.1"
SECRET_ENV = "HUB_TEST_OAUTH2_SECRET"  # where tests put the client secret (the `oauth` fixture does)
REFRESH_ENV = "HUB_TEST_OAUTH2_REFRESH"
SCOPE_MICROSOFT = "https://outlook.office365.com/.default"
SCOPE_GOOGLE = "https://mail.google.com/"
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"
TRACE = " Trace ID: 0c6a1b2e-0000-4000-8000-000000000000 Correlation ID: 5d1f0000-0000-4000-8000-000000000000 " \
        "Timestamp: 2026-12-06 10:00:00Z"


@functools.cache
def _authority() -> tuple[trustme.CA, trustme.LeafCert]:
    authority = trustme.CA()
    return authority, authority.issue_cert(HOST, "localhost")


@dataclass
class Issued:
    token: str
    client: str
    mailbox: str
    expires_at: float


@dataclass
class OAuthServer:
    tenant: str = "doe-office.example"
    client_id: str = "hub-app"
    client_secret: str = "s3cret-value"
    refresh_token: str = "refresh-1"
    mailbox: str = "hub"                 # the mailbox each token may open (Add-MailboxPermission, delegation)
    lifetime: float = 3600.0
    certificates: dict[str, Any] = field(default_factory=dict)     # client_id -> public key (certificate auth)
    service_accounts: dict[str, Any] = field(default_factory=dict)  # client_email -> (public key, subject)
    issued: list[Issued] = field(default_factory=list)
    introspections: list[tuple[str, bool]] = field(default_factory=list)  # (token, active) per question
    token_requests: int = 0
    failures: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.root = Path(tempfile.mkdtemp(prefix="hub-oauth-"))
        authority, leaf = _authority()
        self.ca_file = self.root / "ca.pem"
        authority.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        self._https = ThreadingHTTPServer((HOST, 0), _handler(self))
        self._https.socket = context.wrap_socket(self._https.socket, server_side=True)
        self._http = ThreadingHTTPServer((HOST, 0), _handler(self))
        self._threads = [threading.Thread(target=server.serve_forever, daemon=True)
                         for server in (self._https, self._http)]
        for thread in self._threads:
            thread.start()

    # --- addresses -------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"https://{HOST}:{self._https.server_address[1]}"

    @property
    def token_url(self) -> str:
        return f"{self.base}/token"

    @property
    def introspection_url(self) -> str:
        return f"http://{HOST}:{self._http.server_address[1]}/introspect"

    # --- what tests do ---------------------------------------------------------------------------

    def fail_next(self, count: int) -> None:
        """Answer the next `count` token requests 503 temporarily_unavailable."""
        with self._lock:
            self.failures = count

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662: whether `token` is one of ours and not expired, and the mailbox it opens."""
        with self._lock:
            found = next((issued for issued in self.issued if issued.token == token), None)
            active = found is not None and time.time() < found.expires_at
            self.introspections.append((token, active))
        return {"active": True, "username": found.mailbox} if active and found else {"active": False}

    def is_valid(self, user: str, token: str) -> bool:
        answer = self.introspect(token)
        return bool(answer["active"]) and answer.get("username") == user

    def stop(self) -> None:
        """Stop answering (idempotent): connections are refused from now on."""
        for server in (self._https, self._http):
            if server.socket.fileno() != -1:
                server.shutdown()
                server.server_close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- the endpoints ---------------------------------------------------------------------------

    def answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for one request."""
        if method == "GET" and path == f"/{self.tenant}/v2.0/.well-known/openid-configuration":
            prefix = f"{self.base}/{self.tenant}"
            return 200, {"token_endpoint": f"{prefix}/oauth2/v2.0/token",
                         "authorization_endpoint": f"{prefix}/oauth2/v2.0/authorize",
                         "issuer": f"{prefix}/v2.0"}
        if method == "GET" and path.endswith("/v2.0/.well-known/openid-configuration"):
            tenant = path.split("/")[1]
            return 400, {"error": "invalid_tenant", "error_description": f"AADSTS90002: Tenant '{tenant}' not "
                         f"found. Check to make sure you have the correct tenant ID and are signing into the "
                         f"correct cloud.{TRACE}"}
        if method == "POST" and path == "/introspect":
            return 200, self.introspect(form.get("token", ""))
        if method == "POST" and path in (f"/{self.tenant}/oauth2/v2.0/token", "/token"):
            with self._lock:
                self.token_requests += 1
                if self.failures:
                    self.failures -= 1
                    return 503, {"error": "temporarily_unavailable", "error_description": "try again later"}
            return self._grant(path, form)
        return 404, {"error": "not_found"}

    def _grant(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", "")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._google(form.get("assertion", ""))
        if grant == "refresh_token":
            if form.get("refresh_token") != self.refresh_token:
                return 400, {"error": "invalid_grant", "error_description": "The refresh token is invalid."}
            if form.get("client_id") != self.client_id:
                return 401, {"error": "invalid_client", "error_description": "Unknown client."}
            return self._issue(form.get("client_id", ""))
        if grant != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": grant}
        client = form.get("client_id", "")
        entra = path != "/token"
        if client != self.client_id:
            return 400, {"error": "unauthorized_client", "error_description": (
                f"AADSTS700016: Application with identifier '{client}' was not found in the directory "
                f"'{self.tenant}'.{TRACE}") if entra else "Unknown client."}
        if "client_assertion" in form:
            if not self._assertion_valid(client, form["client_assertion"]):
                return 401, {"error": "invalid_client", "error_description":
                             f"AADSTS700027: The certificate with identifier used to sign the client assertion is "
                             f"not registered on application.{TRACE}"}
        elif form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": (
                f"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the "
                f"client secret value, not the client secret ID, for a secret added to app '{client}'.{TRACE}")
                if entra else "Client authentication failed."}
        scope = form.get("scope", "")
        if entra and SCOPE_MICROSOFT not in scope.split():
            return 400, {"error": "invalid_scope", "error_description": f"AADSTS1002012: The provided value for "
                         f"scope {scope} is not valid.{TRACE}"}
        return self._issue(client)

    def _assertion_valid(self, client: str, assertion: str) -> bool:
        key = self.certificates.get(client)
        if key is None:
            return False
        try:
            claims = jwt.decode(assertion, key, algorithms=["RS256", "PS256"], options={"verify_aud": False})
        except jwt.PyJWTError:
            return False
        return bool(claims.get("iss") == client and claims.get("sub") == client)

    def _google(self, assertion: str) -> tuple[int, dict[str, Any]]:
        try:
            issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss", "")
            key, subject = self.service_accounts[issuer]
            # google-auth addresses every grant to Google's token endpoint, whatever token_uri it posts to.
            claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=GOOGLE_AUDIENCE)
        except (jwt.PyJWTError, KeyError):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if claims.get("sub") != subject or SCOPE_GOOGLE not in str(claims.get("scope", "")).split():
            return 401, {"error": "unauthorized_client", "error_description": "Client is unauthorized to "
                         "retrieve access tokens using this method, or client not authorized for any of the "
                         "scopes requested."}
        return self._issue(issuer)

    def _issue(self, client: str) -> tuple[int, dict[str, Any]]:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.issued.append(Issued(token, client, self.mailbox, time.time() + self.lifetime))
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}


def _handler(server: OAuthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._respond("GET", {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            self._respond("POST", {key: values[-1] for key, values in parse_qs(body).items()})

        def _respond(self, method: str, form: dict[str, str]) -> None:
            status, payload = server.answer(method, urlsplit(self.path).path, form)
            data = json.dumps(payload).encode()
            self.send_response(status)
            if status == 503:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def certificate_key(pem: bytes) -> Any:
    """The public key of a PEM certificate, for `certificates`."""
    return x509.load_pem_x509_certificate(pem).public_key()


@contextlib.contextmanager
def running_oauth(**options: Any) -> Iterator[OAuthServer]:
    server = OAuthServer(**options)
    try:
        yield server
    finally:
        server.close()
