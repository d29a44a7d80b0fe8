"""Twilio's incoming-message webhook feeding the same inbound path as polling.

A text that arrives both ways is stored once (its Message SID is the dedupe key). It is stored, in one
transaction, before Twilio is answered; its photos are downloaded after the answer (hub.sources.sms_media),
so Twilio never waits on a slow media server. A request with a bad signature, or whose fields are not
those of a text to this office's account (see hub.sources.twilio_text_fields), is refused and recorded as
an event, so an administrator sees probing in event lists and logs, without the request's content.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from functools import partial

from hub.core import redact, tallies
from hub.core.app import Hub
from hub.core.errors import ConfigError
from hub.core.models import Event
from hub.intake.parse.sms import parse_sms
from hub.intake.pipeline import Intake, is_stored_key, process
from hub.sources.sms_media import fetch_pending_media, pending
from hub.sources.sms_record import SOURCE, sms_record
from hub.sources.twilio_text_fields import MAX_MEDIA_ITEMS, text_fields_problem
from hub.sources.twilio_webhook import Afterwards, FormParams, TwilioWebhook, WebhookSettings

log = logging.getLogger(__name__)


def twilio_webhook(hub: Hub) -> TwilioWebhook:
    """The configured endpoint ([sms] webhook_url)."""
    sms = hub.config.sms
    if sms is None or not sms.webhook_url:
        raise ConfigError(f"{hub.config.path}: [sms] webhook_url is not set: the webhook needs the public URL "
                          "configured at Twilio")
    intake = Intake.of(hub, watch_letters=True)  # kept while the server runs: an edited letter counts at once
    # SQLite takes one writer at a time and makes the others sleep and try again (up to 100 ms a try):
    # waiting here instead hands the database to the next request the moment it is free.
    one_writer = threading.Lock() if hub.engine.dialect.name == "sqlite" else contextlib.nullcontext()

    def receive(params: dict[str, str]) -> Afterwards | None:
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        media = [pending(params[f"MediaUrl{i}"].rstrip("/").rsplit("/", 1)[-1], params.get(f"MediaContentType{i}", ""))
                 for i in range(MAX_MEDIA_ITEMS) if f"MediaUrl{i}" in params]
        fetch = partial(fetch_pending_media, hub, sid) if media else None
        if sid and is_stored_key(intake.engine, f"twilio:{sid}"):  # Twilio retried, or the poller was first
            log.info("webhook text %s: already stored", sid)
            return fetch
        # No time in the record: the webhook carries none, and a retry must make the same bytes (a text
        # the parser refuses is then held in quarantine once).
        raw = sms_record(sid, params.get("From", ""), params.get("To", ""), params.get("Body", ""), None, media)
        with one_writer:
            outcome = process(intake, raw, SOURCE, parse_sms)
        tallies.add(tallies.MESSAGES, outcome.fate)
        log.info("webhook text %s: %s", sid or "?", outcome.fate)
        return fetch

    def refused(remote: str, reason: str) -> None:
        reason = redact.addresses(reason)
        with hub.sessions.begin() as session:
            session.add(Event(kind="webhook-refused", detail=f"{reason} (from {remote})", actor=remote, via="sms",
                              at=hub.clock.now()))
        log.warning("webhook request from %s refused: %s", remote, reason)

    def check(params: FormParams) -> str | None:
        return text_fields_problem(params, sms.account_sid)

    return TwilioWebhook(WebhookSettings(sms.webhook_url, sms.auth_token or ""), receive, refused, check)
