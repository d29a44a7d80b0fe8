"""One poll of the office's SMS line: every text received since the last poll, through the intake path."""

from __future__ import annotations

from collections.abc import Callable

from hub.app import Hub
from hub.channels.sms_record import parse_sms
from hub.channels.twilio import SmsLine
from hub.channels.twilio_source import TwilioSource
from hub.errors import ConfigError, TemporaryError
from hub.inbox import Summary, drain


def poll_texts(hub: Hub, should_stop: Callable[[], bool] = lambda: False) -> Summary:
    """Raises ConfigError without an [sms] line, TemporaryError when Twilio stays unreachable (the
    error is kept for `hub status`; what was stored before it stays stored)."""
    sms = hub.config.sms
    if sms is None:
        raise ConfigError(f"{hub.config.path}: no [sms] section: the office has no SMS line configured")
    source = TwilioSource(SmsLine(sms, hub.config.limits.max_attachment_bytes), hub.sessions, hub.clock.now,
                          sms.backlog_days)
    try:
        return drain(hub.intake, source, parse_sms, should_stop)
    except TemporaryError as error:
        source.record_error(str(error))
        raise
