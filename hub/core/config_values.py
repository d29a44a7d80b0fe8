"""The frozen settings each table of hub.toml is read into: [office], [inbox], [outbound], [sms],
[letters], [commands], [assignment], [schedule], [limits], [retention] and the [[staff]] entries.

`hub.core.config.load` builds them and `Config` holds them (config.office, config.sms, config.schedule …);
`person_named` finds the one staff member a caseworker's word names, and WEEKDAYS are the day names the
[assignment] and [schedule] tables take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from hub.core.secrets import secret

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# [office] mail_system: whose word says who sent a message (hub.intake.authentication).
MAIL_SYSTEMS = ("authres", "microsoft365", "google")
# [outbound] sent_folder: where the office's mail server files what it sent ("auto": the folder marked \Sent).
SENT_FOLDER_AUTO, SENT_FOLDER_NONE = "auto", "none"
# [outbound] sent_folder_unreachable: a letter in doubt whose Sent folder cannot be searched is sent again, or waits.
UNREACHABLE_CHOICES = ("send", "wait")
# A Microsoft Entra directory (tenant) id, as Exchange stamps it in X-MS-Exchange-CrossTenant-Id.
TENANT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Office:
    name: str
    member: str
    district: str
    timezone: str
    address: str
    reference_prefix: str
    secret: str
    authserv_id: str
    phone: str = ""
    hours: str = ""
    website: str = ""
    intake_address: str = ""  # where notifications of unassigned cases go
    mail_system: str = "authres"  # one of MAIL_SYSTEMS
    zip_codes: tuple[str, ...] = ()  # the district's ZIP or ZIP+4 prefixes; empty: no check (hub.core.district)

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1].lower()

    @property
    def local_part(self) -> str:
        return self.address.rsplit("@", 1)[0].lower()


@dataclass(frozen=True)
class Inbox:
    url: str
    password_env: str
    processed_folder: str
    quarantine_folder: str
    batch_size: int
    poll_seconds: int = 60          # how often `hub run` checks without IDLE (and, with IDLE, as a safety net)
    auth: str = "password"          # or "oauth2": tokens from [oauth2]

    @property
    def password(self) -> str | None:
        return secret(self.password_env)


@dataclass(frozen=True)
class Outbound:
    url: str
    password_env: str
    ca_file: str = ""               # an extra certificate authority to trust (an internal relay's)
    timeout_seconds: int = 60
    give_up_hours: int = 48         # temporary failures are retried with backoff for this long
    auth: str = "password"          # or "oauth2": tokens from [oauth2]
    sent_folder: str = SENT_FOLDER_AUTO  # searched for a letter a crash left in doubt; "none": never
    sent_folder_unreachable: str = "send"  # one of UNREACHABLE_CHOICES

    @property
    def password(self) -> str | None:
        return secret(self.password_env)


@dataclass(frozen=True)
class Sms:
    """The office's Twilio number: polled for texts (and optionally a webhook), and texts sent from it."""

    account_sid: str
    number: str                     # E.164
    auth_token_env: str = "TWILIO_AUTH_TOKEN"
    api_base: str = ""              # a Twilio-compatible endpoint instead of https://api.twilio.com
    poll: bool = True
    backlog_days: int = 1           # how far back the first poll reads
    webhook_url: str = ""           # the public URL set at Twilio; signatures are checked against it
    webhook_listen: str = ""        # deprecated: [web] listen ("": not set)
    quiet_start: time = time(20, 0)  # scheduled texts wait from here ...
    quiet_end: time = time(9, 0)     # ... until here, in the constituent's time zone
    max_segments: int = 3
    region: str = "US"              # how a number written without +country is read
    timeout_seconds: int = 30
    poll_seconds: int = 60          # how often `hub run` polls Twilio for new texts

    @property
    def auth_token(self) -> str | None:
        return secret(self.auth_token_env)



@dataclass(frozen=True)
class Web:
    """[web]: the hub's web server (Twilio's webhook, /healthz, /readyz, /metrics), hosted by `hub run` or `hub web`."""

    listen: str = "127.0.0.1:8025"  # HOST:PORT ([::1]:PORT for IPv6); port 0: a free one
    public_url: str = ""  # where the public reaches this server (https://…): the base of release-signing links
    release_link_days: int = 14  # a link to sign the privacy release works this many days

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(frozen=True)
class Letters:
    folder: str = "letters"         # the office's own letters; a file here overrides the packaged one
    privacy_release_url: str = ""
    privacy_release_form: str = ""  # a file attached to the privacy-release-request letter
    survey_url: str = ""
    notice_attachment_bytes: int = 10 << 20  # a notice carries the message's files up to this size in all


@dataclass(frozen=True)
class Commands:
    require_authentication: bool = True  # staff commands need a passing Authentication-Results


@dataclass(frozen=True)
class Assignment:
    rules: tuple[str, ...] = ()          # in order: "portfolio", "weekday", "fewest-open"
    weekdays: tuple[tuple[str, str], ...] = ()  # (weekday name, staff address)


@dataclass(frozen=True)
class Schedule:
    """What the hub does on its own, and when: check-ins, agency follow-ups, closing, nudges, the report, the
    caseworkers' Monday digest."""

    checkin_days: int = 30          # a check-in when nothing went to the constituent for this long (0: never)
    followup_days: int = 10         # between unanswered agency follow-ups (the agency may set its own)
    followup_limit: int = 3         # unanswered follow-ups before the supervisor is told (the agency may set its own)
    closing_letter: bool = True     # case-closed goes to the constituent when a case closes
    survey_days: int = 3            # the satisfaction survey this many days after closing (0: never)
    reopen_days: int = 60           # a constituent's message this soon after the closing reopens the case
    nudge_hours: int = 4            # business hours before an unassigned or unanswered urgent case is raised
    workday_start: time = time(9, 0)  # the office's business hours: dated reminders fall due at the start
    workday_end: time = time(17, 0)
    report_day: str = "monday"      # the weekly report goes to the supervisors on this day ...
    report_time: time = time(7, 0)  # ... at this time, office time
    caseworker_digest: bool = True  # each caseworker with open cases gets their week on Monday ...
    caseworker_digest_time: time = time(8, 0)  # ... at this time, office time


@dataclass(frozen=True)
class Retention:
    """How long the office keeps personal data (hub.cases.retention); None: kept for ever, the default, since
    each office must decide its own records policy."""

    closed_case_years: int | None = None  # a case closed this long ago keeps only its tombstone
    raw_mail_days: int | None = None      # a message's original bytes go this many days after it arrived

    @property
    def enabled(self) -> bool:
        return self.closed_case_years is not None or self.raw_mail_days is not None


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int
    max_attachment_bytes: int
    auto_mail_window_minutes: int = 10
    auto_mail_per_address: int = 10
    auto_mail_per_case: int = 10
    bounce_hold_days: int = 30
    notice_window_minutes: int = 60  # floods: notices (and refusals) to one staff address about one sender ...
    notices_per_sender: int = 5      # ... at most this many caseworker notices one by one, the rest in a digest
    refusals_per_sender: int = 5     # ... and this many replies to refused commands
    group_letters_per_minute: int = 30  # `hub notify` spaces its letters out (Exchange Online allows 30 a minute)
    parse_seconds: int = 60  # a message's parse and screening in the parse worker, before it is given up


@dataclass(frozen=True)
class Staff:
    name: str
    email: str
    agencies: tuple[str, ...] = ()
    title: str = ""
    short: str = ""  # what caseworkers type for this person (#assign sam); first name and local part also work
    supervisor: bool = False  # gets the weekly report, escalations and nudges

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else ""

    def answers_to(self, word: str) -> bool:
        """Named by address, short name, first name or the part of the address before the @ (any case)."""
        word = word.strip().lower()
        return word in {self.email, self.short.lower(), self.first_name.lower(), self.email.split("@")[0]} - {""}


def person_named(staff: tuple[Staff, ...], word: str) -> Staff | None:
    """The one person `word` names: the one whose short name it is, else the one who answers to it."""
    word = word.strip().lower()
    if not word:
        return None
    for found in ([p for p in staff if p.short.lower() == word], [p for p in staff if p.answers_to(word)]):
        if found:
            return found[0] if len(found) == 1 else None
    return None
