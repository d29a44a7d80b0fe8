"""Readers for the tables of hub.toml that need more than a typed getter: [assignment], [sms],
[schedule], [retention] and [urgency]; and the tenant of [oauth2], which [office] mail_system = "microsoft365" reads.

Each checks its table (rule names, weekdays, phone numbers, URLs, times of day) and returns the frozen
value, or raises a ConfigError naming the file, the key and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import time

from hub.core.config_table import Table
from hub.core.config_values import WEEKDAYS, Assignment, Retention, Schedule, Sms, Staff, Web, person_named
from hub.core.errors import ConfigError
from hub.core.urgency_rules import UrgencyRules

ASSIGNMENT_RULES = ("portfolio", "weekday", "fewest-open")


def read_assignment(table: Table, staff: tuple[Staff, ...]) -> Assignment:
    rules = table.get("rules", list, [])
    for rule in rules:
        if rule not in ASSIGNMENT_RULES:
            raise table.fail("rules", f"unknown rule {rule!r} (known: {', '.join(ASSIGNMENT_RULES)})")
    days = table.table("weekdays")
    weekdays = []
    for day, who in days.entries().items():
        if day.lower() not in WEEKDAYS:
            raise days.fail(day, f"not a weekday (known: {', '.join(WEEKDAYS)})")
        found = person_named(staff, who) if isinstance(who, str) else None
        if found is None:
            raise days.fail(day, f"{who!r} is not exactly one [[staff]] member")
        weekdays.append((day.lower(), found.email))
    return Assignment(tuple(str(rule) for rule in rules), tuple(weekdays))


def read_retention(table: Table) -> Retention:
    """[retention]: each key absent (nothing purged) or a positive whole number."""
    years, days = (table.positive(key, 1) if table.has(key) else None for key in ("closed_case_years", "raw_mail_days"))
    return Retention(closed_case_years=years, raw_mail_days=days)


def read_sms(table: Table) -> Sms:
    # Imported here: the parse worker imports the configuration (this module with it) and needs none of the
    # phone-number data.
    from hub.core.phones import normalise

    account = table.text("account_sid")
    if not re.match(r"^AC[0-9a-fA-F]{32}$", account):
        raise table.fail("account_sid", "expected AC followed by 32 hexadecimal digits (Twilio console)")
    region = table.text("region", "US").upper()
    number = normalise(table.text("number"), region)
    if number is None:
        raise table.fail("number", f"not a phone number: {table.text('number')!r} (write it as +15555550100)")
    api_base = table.text("api_base", "").rstrip("/")
    if api_base and not re.match(r"^https?://[^/\s]+", api_base):
        raise table.fail("api_base", f"expected http(s)://HOST[:PORT], got {api_base!r}")
    webhook_url = table.text("webhook_url", "")
    if webhook_url and not re.match(r"^https?://[^/\s]+", webhook_url):
        raise table.fail("webhook_url", f"expected the public http(s):// URL set at Twilio, got {webhook_url!r}")
    listen = read_listen(table, "webhook_listen", "")
    return Sms(
        account_sid=account, number=number, auth_token_env=table.text("auth_token_env", "TWILIO_AUTH_TOKEN"),
        api_base=api_base, poll=table.get("poll", bool, True), backlog_days=table.positive("backlog_days", 1),
        webhook_url=webhook_url, webhook_listen=listen,
        quiet_start=_clock_time(table, "quiet_start", "20:00"), quiet_end=_clock_time(table, "quiet_end", "09:00"),
        max_segments=table.positive("max_segments", 3), region=region,
        timeout_seconds=table.positive("timeout_seconds", 30), poll_seconds=table.positive("poll_seconds", 60))


def read_web(table: Table) -> Web:
    public_url = table.text("public_url", "").rstrip("/")
    found = re.fullmatch(r"(https?)://[^/\s?#]+(/[^\s?#]*)?", public_url)
    if public_url and (found is None or (found.group(1) == "http" and not _loopback(public_url))):
        raise table.fail("public_url", f"expected an https:// address such as https://hub.example.gov, got "
                                       f"{public_url!r}")
    return Web(listen=read_listen(table, "listen", Web.listen), public_url=public_url,
               release_link_days=table.positive("release_link_days", Web.release_link_days))


def _loopback(url: str) -> bool:
    """http:// is only for a server on this machine (a test, a demo): the link carries a signing token."""
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "127.0.0.1", "::1")


def read_listen(table: Table, key: str, default: str) -> str:
    """A HOST:PORT to listen on ([::1]:PORT for IPv6; an empty host is 127.0.0.1)."""
    listen = table.text(key, default)
    found = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\s\[\]]*):(\d{1,5})", listen)
    if listen and (found is None or int(found.group(2)) > 65535):
        raise table.fail(key, f"expected HOST:PORT (such as 127.0.0.1:8025), got {listen!r}")
    return listen


def read_schedule(table: Table) -> Schedule:
    day = table.text("report_day", "monday").lower()
    if day not in WEEKDAYS:
        raise table.fail("report_day", f"not a weekday (known: {', '.join(WEEKDAYS)})")
    start, end = _clock_time(table, "workday_start", "09:00"), _clock_time(table, "workday_end", "17:00")
    if end <= start:
        raise table.fail("workday_end", f"must be later than workday_start ({start:%H:%M})")
    return Schedule(
        checkin_days=table.not_negative("checkin_days", 30), followup_days=table.positive("followup_days", 10),
        followup_limit=table.positive("followup_limit", 3), closing_letter=table.get("closing_letter", bool, True),
        survey_days=table.not_negative("survey_days", 3), nudge_hours=table.not_negative("nudge_hours", 4),
        reopen_days=table.not_negative("reopen_days", 60),
        workday_start=start, workday_end=end, report_day=day, report_time=_clock_time(table, "report_time", "07:00"),
        caseworker_digest=table.get("caseworker_digest", bool, True),
        caseworker_digest_time=_clock_time(table, "caseworker_digest_time", "08:00"))


def _clock_time(table: Table, key: str, default: str) -> time:
    text = table.text(key, default)
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise table.fail(key, f"expected a time of day such as {default!r}, got {text!r}") from None


def read_urgency(table: Table) -> UrgencyRules:
    known = [rule.name for rule in fields(UrgencyRules)]
    table.declare(*known)  # a key outside these is reported with the other unknown keys, with its closest match
    try:
        return UrgencyRules.from_table({key: value for key, value in table.data.items() if key in known})
    except ValueError as error:
        raise ConfigError(f"{table.file}: {error}") from None
