"""The exception tree; the class of an error decides its fate.

- UserError: a mistake on the command line or in the configuration: one line on stderr, exit non-zero.
  SchemaError, one of them: the database's schema is not the one this version of the hub needs.
- QuarantineError: an inbound item that cannot be parsed or processed: kept with its raw bytes, set
  aside with the reason, and the rest of the batch goes on.
- TemporaryError: the outside world is unavailable for now (server down, timeout): retry with backoff.
  Unreachable, one of them, says the whole server is down, not just this message refused for now.
- PermanentError: the outside world said no for good (e.g. SMTP 5xx): record it, do not retry.
- DamagedRecordError: stored bytes that do not match their SHA-256; said in one line, never used.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class UserError(HubError):
    """A mistake the person at the keyboard can fix; shown as one line, never a traceback."""


class ConfigError(UserError):
    """A configuration file is missing, unreadable or holds a bad value; the message names the key."""


class SchemaError(UserError):
    """The database is behind this hub (run `hub db upgrade`), ahead of it, or has no tables yet."""


class NotFoundError(UserError):
    """A case, quarantine item or other record named on the command line does not exist."""


class QuarantineError(HubError):
    """An inbound item the hub cannot handle; it is kept in quarantine with this message as the reason."""


class TemporaryError(HubError):
    """A failure that may pass: the caller retries later."""


class Unreachable(TemporaryError):
    """The server could not be reached at all (refused, timed out, no session): every message to it would
    fail alike, so a sender stops trying the rest until the next pass."""


class AnswerLost(TemporaryError):
    """The message was handed over and the server's answer never came (the connection broke, or the wait for
    it timed out): the server may have taken it, so it is in doubt (hub.delivery.in_doubt), not simply retried."""


class PermanentError(HubError):
    """A failure that will not pass by retrying."""


class DamagedRecordError(HubError):
    """Bytes the database keeps that no longer add up to what was stored (their SHA-256 differs): changed
    outside the hub, or damaged. Nothing is made of them."""


def describe(error: BaseException, limit: int = 500) -> str:
    """An unexpected error as one storable line: its class and message, without NUL or line breaks."""
    text = " ".join(f"{type(error).__name__}: {error}".replace("\x00", "\\0").split())
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[:limit] + "…"
