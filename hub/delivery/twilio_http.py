"""Talking to Twilio's REST API: a client for the office's account, MMS media downloads, and what a failure means.

- `twilio_client` makes the twilio library's own Client. With ``api_base`` (the test suite's fake Twilio, or
  a proxy) every request for ``https://api.twilio.com`` — the library's next-page URLs included — goes to
  that base instead.
- `fetch_media` downloads one MMS media item with the account's credentials, following Twilio's redirect
  to its storage host (requests drops the Authorization header when the redirect leaves the host), and
  refuses to send the credentials anywhere but Twilio's API (or ``api_base``).
- `is_temporary` and `http_status` sort the library's exceptions: 429, 5xx and network failures pass.

The twilio library raises three kinds of failure: `TwilioRestException` (with ``status`` and Twilio's
``code``) when a create, fetch or update is refused; a bare `TwilioException("Unable to fetch page",
response)` when a page of a list is refused (no code, the HTTP response as its second argument); and
requests' own ConnectionError/Timeout, unwrapped, when Twilio cannot be reached.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from hub.core.errors import PermanentError, TemporaryError

TWILIO_API = "https://api.twilio.com"
DEFAULT_TIMEOUT = 30.0
# Twilio takes MMS up to 5 MB per message; an inbound item from a carrier can be larger, within reason.
MAX_MEDIA_BYTES = 20 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
MAX_ERROR_TEXT = 300
# requests raises these when the connection fails, times out or breaks mid-body.
NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def _check_base(api_base: str) -> str:
    """``api_base`` without its trailing slash; ValueError unless it is an http(s) URL with a host."""
    parts = urlsplit(api_base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"api_base must look like http://127.0.0.1:8123 or https://host, not {api_base!r}")
    return api_base.rstrip("/")


def _rebase(url: str, api_base: str) -> str:
    """`url` with a leading ``https://api.twilio.com`` replaced by `api_base` (when set)."""
    if api_base and (url == TWILIO_API or url.startswith(TWILIO_API + "/")):
        return api_base + url[len(TWILIO_API):]
    return url


class RebasedHttpClient(TwilioHttpClient):
    """The library's HTTP client, sending what it would send to ``https://api.twilio.com`` to `api_base`."""

    def __init__(self, api_base: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.api_base = _check_base(api_base)

    def request(self, method: str, url: str, params: dict[str, object] | None = None,
                data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        return super().request(method, _rebase(url, self.api_base), params=params, data=data, headers=headers,
                               auth=auth, timeout=timeout, allow_redirects=allow_redirects)


def twilio_client(account_sid: str, auth_token: str, api_base: str = "",
                  timeout: float = DEFAULT_TIMEOUT) -> Client:
    """A twilio Client for the account, its requests limited to `timeout` seconds each (connect, read).

    With `api_base` (``http://127.0.0.1:8123``), requests for ``https://api.twilio.com`` go there instead;
    ValueError when `api_base` is not an http(s) URL."""
    if not api_base:
        return Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
    client = Client(account_sid, auth_token, http_client=RebasedHttpClient(api_base, timeout))
    # TWILIO_EDGE/TWILIO_REGION in the environment would turn api.twilio.com into api.<edge>.<region>.
    # twilio.com, which the rebasing does not match: the requests would leave for the real Twilio.
    client.edge = None
    client.region = None
    return client


def _media_url(url: str, api_base: str) -> str:
    """The URL to download `url` from, or PermanentError when the account's credentials do not belong there."""
    base = _check_base(api_base) if api_base else ""
    if url.startswith("/"):  # a resource's relative `uri`, as the API's JSON gives it
        url = (base or TWILIO_API) + url
    url = _rebase(url, base)
    if not url.startswith((base or TWILIO_API) + "/"):
        raise PermanentError(f"not a Twilio API media URL, the account's credentials stay home: {url}")
    # A media resource's `uri` names its JSON description; the content lives at the same path without it.
    path = urlsplit(url).path
    if path.endswith(".json") and "/Media/" in path:
        url = url.replace(path, path[: -len(".json")], 1)
    return url


def _refusal_text(response: requests.Response) -> str:
    """Twilio's code and message from an error body (read no further than a few KB), else the HTTP reason."""
    head = next(response.iter_content(4096), b"")
    try:
        payload = json.loads(head)
        return f"Twilio error {payload['code']}: {payload['message']}"[:MAX_ERROR_TEXT]
    except (ValueError, KeyError, TypeError):
        return response.reason or "no reason given"


def fetch_media(url: str, account_sid: str, auth_token: str, api_base: str = "", timeout: float = DEFAULT_TIMEOUT,
                max_bytes: int = MAX_MEDIA_BYTES) -> tuple[str, bytes]:
    """Download one MMS media item: its content type (as the storage host sends it) and its bytes.

    `url` is the item's URL (``https://api.twilio.com/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…``),
    or its ``uri`` from the API's JSON (relative, ending in ``.json``). The request carries the account's
    credentials (HTTP Basic) and follows redirects; `timeout` applies to the connection and to each read.

    Raises TemporaryError for network failures, timeouts, 429 and 5xx; PermanentError for other
    refusals, a URL outside Twilio's API, and an item over `max_bytes`."""
    target = _media_url(url, api_base)
    try:
        with requests.get(target, auth=(account_sid, auth_token), timeout=timeout, stream=True,
                          allow_redirects=True) as response:
            status = response.status_code
            if status == 429 or status >= 500:
                raise TemporaryError(f"media download refused for now (HTTP {status}, {_refusal_text(response)}):"
                                     f" {target}")
            if status != 200:
                raise PermanentError(f"media download refused (HTTP {status}, {_refusal_text(response)}): {target}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise PermanentError(f"media item of {declared} bytes is over the limit of {max_bytes} bytes: {target}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise PermanentError(f"media item is over the limit of {max_bytes} bytes: {target}")
                chunks.append(chunk)
            content_type = response.headers.get("Content-Type") or "application/octet-stream"
    except NETWORK_ERRORS as error:
        raise TemporaryError(f"media download failed ({type(error).__name__}: {error}): {target}") from error
    except requests.RequestException as error:  # too many redirects, a bad URL: retrying will not help
        raise PermanentError(f"media download failed ({type(error).__name__}: {error}): {target}") from error
    return content_type, b"".join(chunks)


def http_status(error: BaseException) -> int | None:
    """The HTTP status of a refusal from the twilio library (see the module's docstring), else None."""
    if isinstance(error, TwilioRestException | TwilioServiceException):
        status: Any = error.status
        return int(status)
    if isinstance(error, TwilioException) and len(error.args) > 1 and isinstance(error.args[1], Response):
        return int(error.args[1].status_code)
    return None


def is_temporary(error: BaseException) -> bool:
    """True when trying again later may succeed: 429, 5xx, network failures and timeouts, TemporaryError."""
    if isinstance(error, (TemporaryError, *NETWORK_ERRORS)):
        return True
    status = http_status(error)
    return status is not None and (status == 429 or status >= 500)
