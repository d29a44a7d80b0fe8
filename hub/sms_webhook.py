"""`hub sms webhook`: Twilio's incoming-message webhook feeding the same inbound path as polling.

A text that arrives both ways is stored once (its Message SID is the dedupe key). A request with a
bad signature is refused and recorded as an event, so an administrator sees probing in `hub case`-less
event lists and logs, without the request's content.
"""

from __future__ import annotations

import logging

from hub.app import Hub
from hub.channels.sms_record import SOURCE, parse_sms, sms_record
from hub.channels.twilio import SmsLine
from hub.channels.twilio_webhook import WebhookServer, WebhookSettings
from hub.errors import ConfigError
from hub.intake.pipeline import is_stored_key, process
from hub.models import Event

log = logging.getLogger(__name__)
MAX_MEDIA_ITEMS = 10  # Twilio's own limit per message


def webhook_server(hub: Hub) -> WebhookServer:
    """The configured endpoint, not yet started."""
    sms = hub.config.sms
    if sms is None or not sms.webhook_url:
        raise ConfigError(f"{hub.config.path}: [sms] webhook_url is not set: the webhook needs the public URL "
                          "configured at Twilio")
    line = SmsLine(sms, hub.config.limits.max_attachment_bytes)
    intake = hub.intake

    def receive(params: dict[str, str]) -> None:
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        if sid and is_stored_key(intake.engine, f"twilio:{sid}"):  # Twilio retried, or the poller was first
            log.info("webhook text %s: already stored", sid)
            return
        urls = [(params[f"MediaUrl{i}"], params.get(f"MediaContentType{i}", "")) for i in range(MAX_MEDIA_ITEMS)
                if f"MediaUrl{i}" in params]
        media = [line.download(url, url.rstrip("/").rsplit("/", 1)[-1], kind) for url, kind in urls]
        # No time in the record: the webhook carries none, and a retry must make the same bytes (a text
        # the parser refuses is then held in quarantine once).
        raw = sms_record(sid, params.get("From", ""), params.get("To", ""), params.get("Body", ""), None, media)
        outcome = process(intake, raw, SOURCE, parse_sms)
        log.info("webhook text %s: %s", params.get("MessageSid", "?"), outcome.fate)

    def refused(remote: str, reason: str) -> None:
        with hub.sessions.begin() as session:
            session.add(Event(kind="webhook-refused", detail=f"{reason} (from {remote})", actor=remote, via="sms",
                              at=hub.clock.now()))
        log.warning("webhook request from %s refused: %s", remote, reason)

    token = sms.auth_token or ""
    return WebhookServer(WebhookSettings(sms.listen, sms.webhook_url, token), receive, refused)
