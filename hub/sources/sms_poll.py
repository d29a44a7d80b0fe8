"""One poll of the office's SMS line: every text received since the last poll, through the intake path, and
the photos of texts the webhook stored that are still to download."""

from __future__ import annotations

from collections.abc import Callable

from hub.core.app import Hub
from hub.core.errors import ConfigError, TemporaryError
from hub.delivery.twilio import SmsLine
from hub.intake.drain import Summary, drain
from hub.intake.parse.sms import parse_sms
from hub.intake.pipeline import Intake
from hub.sources.sms_media import fetch_pending_media
from hub.sources.twilio_source import TwilioSource


def poll_texts(hub: Hub, should_stop: Callable[[], bool] = lambda: False) -> Summary:
    """Raises ConfigError without an [sms] line, TemporaryError when Twilio stays unreachable (the
    error is kept for `hub status`; what was stored before it stays stored)."""
    sms = hub.config.sms
    if sms is None:
        raise ConfigError(f"{hub.config.path}: no [sms] section: the office has no SMS line configured")
    source = TwilioSource(SmsLine(sms, hub.config.limits.max_attachment_bytes), hub.sessions, hub.clock.now,
                          sms.backlog_days)
    try:
        summary = drain(Intake.of(hub), source, parse_sms, should_stop)
        fetch_pending_media(hub, should_stop=should_stop)
        return summary
    except TemporaryError as error:
        source.record_error(str(error))
        raise
