"""`hub sms webhook`: Twilio's incoming-message webhook feeding the same inbound path as polling.

A text that arrives both ways is stored once (its Message SID is the dedupe key). A request with a
bad signature, or whose fields are not those of a text to this office's account (see
hub.sources.twilio_text_fields), is refused and recorded as an event, so an administrator sees probing
in `hub case`-less event lists and logs, without the request's content.

It serves until SIGTERM or SIGINT, then takes no more requests and lets those under way finish (within
the server's grace; a second signal stops waiting).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from hub.core import redact, tallies
from hub.core.app import Hub
from hub.core.errors import ConfigError
from hub.core.models import Event
from hub.core.stop_signals import StopSignals
from hub.delivery.twilio import SmsLine
from hub.intake.parse.sms import parse_sms
from hub.intake.pipeline import Intake, is_stored_key, process
from hub.sources.sms_record import SOURCE, sms_record
from hub.sources.twilio_text_fields import MAX_MEDIA_ITEMS, text_fields_problem
from hub.sources.twilio_webhook import STOP_GRACE_SECONDS, FormParams, WebhookServer, WebhookSettings

log = logging.getLogger(__name__)
SIGNAL_CHECK_SECONDS = 0.05  # while waiting for requests under way, how often a second signal is looked for


def webhook_server(hub: Hub) -> WebhookServer:
    """The configured endpoint, not yet started."""
    sms = hub.config.sms
    if sms is None or not sms.webhook_url:
        raise ConfigError(f"{hub.config.path}: [sms] webhook_url is not set: the webhook needs the public URL "
                          "configured at Twilio")
    line = SmsLine(sms, hub.config.limits.max_attachment_bytes)
    intake = Intake.of(hub)

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
        tallies.add(tallies.MESSAGES, outcome.fate)
        log.info("webhook text %s: %s", params.get("MessageSid", "?"), outcome.fate)

    def refused(remote: str, reason: str) -> None:
        reason = redact.addresses(reason)
        with hub.sessions.begin() as session:
            session.add(Event(kind="webhook-refused", detail=f"{reason} (from {remote})", actor=remote, via="sms",
                              at=hub.clock.now()))
        log.warning("webhook request from %s refused: %s", remote, reason)

    def check(params: FormParams) -> str | None:
        return text_fields_problem(params, sms.account_sid)

    token = sms.auth_token or ""
    return WebhookServer(WebhookSettings(sms.listen, sms.webhook_url, token), receive, refused, check)


def serve_webhook(hub: Hub, announce: Callable[[str], None]) -> bool:
    """Serve until SIGTERM or SIGINT (call from the main thread). Returns True when requests were left
    unanswered at the stop (the caller then exits without waiting for their threads)."""
    server = webhook_server(hub)
    sms = hub.config.sms
    assert sms is not None
    with StopSignals() as signals:
        server.start()
        try:
            announce(f"listening on {sms.listen[0]}:{server.port} for {sms.webhook_url} (Ctrl-C or SIGTERM stops)")
            signals.wait()
            log.info("stopping: the requests under way finish first")
        finally:
            server.stop_accepting()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while not server.wait_idle(SIGNAL_CHECK_SECONDS):
            if (signals.wait(0) or time.monotonic() >= deadline) and server.requests_under_way:
                left = server.requests_under_way
                log.warning("stopping now: %d request%s left unanswered (polling finds their texts)",
                            left, "" if left == 1 else "s")
                return True
    log.info("stopped")
    return False
