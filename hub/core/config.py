"""One frozen, typed settings object read from config/hub.toml and config/agencies.toml.

Every problem is reported as one line naming the file, the key and what is wrong. Relative paths are
relative to the office folder: the folder that holds `config/`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from datetime import time
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.core.config_checks import check_agencies, check_staff
from hub.core.config_table import Table, read_toml
from hub.core.errors import ConfigError
from hub.core.urgency_rules import DEFAULT_RULES, UrgencyRules

PREFIX = re.compile(r"^[A-Z]{1,6}$")


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

    @property
    def password(self) -> str | None:
        return os.environ.get(self.password_env)


@dataclass(frozen=True)
class Outbound:
    url: str
    password_env: str
    ca_file: str = ""               # an extra certificate authority to trust (an internal relay's)
    timeout_seconds: int = 60
    give_up_hours: int = 48         # temporary failures are retried with backoff for this long

    @property
    def password(self) -> str | None:
        return os.environ.get(self.password_env)


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
    webhook_listen: str = "127.0.0.1:8025"
    quiet_start: time = time(20, 0)  # scheduled texts wait from here ...
    quiet_end: time = time(9, 0)     # ... until here, in the constituent's time zone
    max_segments: int = 3
    region: str = "US"              # how a number written without +country is read
    timeout_seconds: int = 30
    poll_seconds: int = 60          # how often `hub run` polls Twilio for new texts

    @property
    def auth_token(self) -> str | None:
        return os.environ.get(self.auth_token_env)

    @property
    def listen(self) -> tuple[str, int]:
        host, _, port = self.webhook_listen.rpartition(":")
        return host or "127.0.0.1", int(port)


@dataclass(frozen=True)
class Letters:
    folder: str = "letters"         # the office's own letters; a file here overrides the packaged one
    privacy_release_url: str = ""
    privacy_release_form: str = ""  # a file attached to the privacy-release-request letter
    survey_url: str = ""


@dataclass(frozen=True)
class Commands:
    require_authentication: bool = True  # staff commands need a passing Authentication-Results


@dataclass(frozen=True)
class Assignment:
    rules: tuple[str, ...] = ()          # in order: "portfolio", "weekday", "fewest-open"
    weekdays: tuple[tuple[str, str], ...] = ()  # (weekday name, staff address)


@dataclass(frozen=True)
class Schedule:
    """What the hub does on its own, and when: check-ins, agency follow-ups, closing, nudges, the report."""

    checkin_days: int = 30          # a check-in when nothing went to the constituent for this long (0: never)
    followup_days: int = 10         # between unanswered agency follow-ups (the agency may set its own)
    followup_limit: int = 3         # unanswered follow-ups before the supervisor is told (the agency may set its own)
    closing_letter: bool = True     # case-closed goes to the constituent when a case closes
    survey_days: int = 3            # the satisfaction survey this many days after closing (0: never)
    nudge_hours: int = 4            # business hours before an unassigned or unanswered urgent case is raised
    workday_start: time = time(9, 0)  # the office's business hours: dated reminders fall due at the start
    workday_end: time = time(17, 0)
    report_day: str = "monday"      # the weekly report goes to the supervisors on this day ...
    report_time: time = time(7, 0)  # ... at this time, office time


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


@dataclass(frozen=True)
class Agency:
    key: str
    name: str
    domains: tuple[str, ...]
    liaison: str
    response_days: int
    business_days: bool
    control_number: re.Pattern[str] | None = None  # the agency's own case number in its replies
    release_valid_days: int = 0  # a release must be signed within this many days (0: no limit)
    interim_days: int = 0    # after an answer, the next follow-up this many days later (0: response_days)
    followup_days: int = 0   # between unanswered follow-ups (0: the office's [schedule] followup_days)
    followup_limit: int = 0  # unanswered follow-ups before the supervisor is told (0: the office's)
    require_authentication: bool = True  # its mail must pass DKIM/SPF to count as the agency's

    @property
    def interim(self) -> int:
        return self.interim_days or self.response_days

    def has_domain(self, domain: str) -> bool:
        """True for the agency's domains and their subdomains (ssa.gov covers mail.ssa.gov)."""
        domain = domain.lower()
        return any(domain == d or domain.endswith("." + d) for d in self.domains)


@dataclass(frozen=True)
class Config:
    path: Path
    home: Path
    office: Office
    database_url: str
    inbox: Inbox
    outbound: Outbound
    limits: Limits
    staff: tuple[Staff, ...]
    agencies: tuple[Agency, ...] = field(default=())
    letters: Letters = field(default=Letters())
    commands: Commands = field(default=Commands())
    assignment: Assignment = field(default=Assignment())
    urgency: UrgencyRules = field(default=DEFAULT_RULES)
    sms: Sms | None = None
    schedule: Schedule = field(default=Schedule())

    @property
    def supervisors(self) -> tuple[str, ...]:
        """Who gets the weekly report, escalations and nudges: staff marked supervisor, else the intake address."""
        marked = tuple(person.email for person in self.staff if person.supervisor)
        return marked or (self.office.intake_address,)

    def agency(self, key: str | None) -> Agency | None:
        return self._agencies_by_key.get(key) if key else None

    @cached_property
    def _agencies_by_key(self) -> dict[str, Agency]:
        return {agency.key: agency for agency in self.agencies}

    def staff_member(self, address: str | None) -> Staff | None:
        address = (address or "").lower()
        return next((person for person in self.staff if person.email == address), None)

    def person(self, word: str) -> Staff | None:
        """The one staff member a caseworker means by `word`; None when nobody or several answer to it."""
        return person_named(self.staff, word)

    def resolve(self, relative: str) -> Path:
        """A path from the config, made absolute against the office folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.home / path


def office_home(path: Path) -> Path:
    """The office folder: the parent of `config/`, or the config file's own folder elsewhere."""
    folder = path.resolve().parent
    return folder.parent if folder.name == "config" else folder


def load(path: Path) -> Config:
    """Read and validate the configuration at `path` (and agencies.toml beside it)."""
    root = Table(read_toml(path), path, "")
    home = office_home(path)
    office = _office(root.table("office"))
    database = root.table("database")
    inbox = root.table("inbox")
    outbound = root.table("outbound")
    limits = root.table("limits")
    letters = root.table("letters")
    commands = root.table("commands")
    staff = _staff(root)
    agencies = load_agencies(path.parent / "agencies.toml")
    sms = root.table("sms")  # asked for even when absent, so that a misspelt [smss] is told of [sms]
    config = Config(
        path=path,
        home=home,
        office=office,
        database_url=_database_url(database.text("url", "sqlite:///var/hub.db"), home, database),
        inbox=Inbox(
            url=_source_url(inbox, "url", "maildir:var/inbox"),
            password_env=inbox.text("password_env", "HUB_INBOX_PASSWORD"),
            processed_folder=inbox.text("processed_folder", "Processed"),
            quarantine_folder=inbox.text("quarantine_folder", "Quarantine"),
            batch_size=inbox.positive("batch_size", 250),
            # A Maildir is a local folder: looking costs nothing, so the embedded default looks often.
            poll_seconds=inbox.positive("poll_seconds", 5 if inbox.text("url", "maildir:").startswith("maildir:")
                                        else 60),
        ),
        outbound=Outbound(
            url=_source_url(outbound, "url", "maildir:var/sent"),
            password_env=outbound.text("password_env", "HUB_SMTP_PASSWORD"),
            ca_file=outbound.text("ca_file", ""),
            timeout_seconds=outbound.positive("timeout_seconds", 60),
            give_up_hours=outbound.positive("give_up_hours", 48),
        ),
        limits=Limits(
            max_message_bytes=limits.positive("max_message_bytes", 50 * 1024 * 1024),
            max_attachment_bytes=limits.positive("max_attachment_bytes", 20 * 1024 * 1024),
            auto_mail_window_minutes=limits.positive("auto_mail_window_minutes", 10),
            auto_mail_per_address=limits.positive("auto_mail_per_address", 10),
            auto_mail_per_case=limits.positive("auto_mail_per_case", 10),
            bounce_hold_days=limits.positive("bounce_hold_days", 30),
            notice_window_minutes=limits.positive("notice_window_minutes", 60),
            notices_per_sender=limits.positive("notices_per_sender", 5),
            refusals_per_sender=limits.positive("refusals_per_sender", 5),
        ),
        staff=staff,
        agencies=agencies,
        letters=Letters(
            folder=letters.text("folder", "letters"),
            privacy_release_url=letters.text("privacy_release_url", ""),
            privacy_release_form=letters.text("privacy_release_form", ""),
            survey_url=letters.text("survey_url", ""),
        ),
        commands=Commands(require_authentication=commands.get("require_authentication", bool, True)),
        assignment=_assignment(root.table("assignment"), staff),
        urgency=_urgency(root.table("urgency")),
        sms=_sms(sms) if root.has("sms") else None,
        schedule=_schedule(root.table("schedule")),
    )
    root.reject_unknown()
    check_staff(config, root.tables("staff"))
    if not config.office.intake_address:
        if not staff:
            raise root.table("office").fail("intake_address", "needed when no [[staff]] is configured: where "
                                            "notifications of unassigned cases go")
        config = replace(config, office=replace(config.office, intake_address=staff[0].email))
    if config.office.intake_address == config.office.address:
        raise root.table("office").fail("intake_address", "must not be the office address the hub reads "
                                        "(notifications would come back to the hub)")
    return config


def _office(table: Table) -> Office:
    timezone = table.text("timezone", "America/New_York")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise table.fail("timezone", f"unknown time zone {timezone!r}") from None
    prefix = table.text("reference_prefix", "CW").upper()
    if not PREFIX.match(prefix):
        raise table.fail("reference_prefix", f"must be 1 to 6 letters, got {prefix!r}")
    written = table.text("secret", "")  # read even when HUB_SECRET replaces it: a key of this table all the same
    secret = os.environ.get("HUB_SECRET") or written
    if len(secret) < 16:
        raise table.fail("secret", "must be at least 16 characters (`hub init` writes a random one)")
    return Office(
        name=table.text("name"),
        member=table.text("member", ""),
        district=table.text("district", ""),
        timezone=timezone,
        address=table.address("address"),
        reference_prefix=prefix,
        secret=secret,
        authserv_id=table.text("authserv_id", ""),
        phone=table.text("phone", ""),
        hours=table.text("hours", ""),
        website=table.text("website", ""),
        intake_address=table.address("intake_address", ""),
    )


def _database_url(url: str, home: Path, table: Table) -> str:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url[len("sqlite:///"):]
        return f"sqlite:///{(home / relative) if relative else relative}"
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise table.fail("url", f"expected sqlite:///FILE or postgresql+psycopg://…, got {url!r}")
    return url


def _source_url(table: Table, key: str, default: str) -> str:
    url = table.text(key, default)
    if not re.match(r"^(maildir:|imaps?://|smtps?://)", url):
        raise table.fail(key, f"expected maildir:PATH, imap://, imaps://, smtp:// or smtps://, got {url!r}")
    return url


def _staff(root: Table) -> tuple[Staff, ...]:
    return tuple(Staff(name=table.text("name"), email=table.address("email"),
                       agencies=tuple(str(a).lower() for a in table.get("agencies", list, [])),
                       title=table.text("title", ""), short=table.text("short", ""),
                       supervisor=table.get("supervisor", bool, False))
                 for table in root.tables("staff"))


def load_agencies(path: Path) -> tuple[Agency, ...]:
    """The agency directory: one `[agencies.KEY]` table per agency."""
    if not path.exists():
        raise ConfigError(f"{path}: no agency directory beside hub.toml (`hub init` writes the example; "
                          "an office that deals with no agency keeps the file, empty)")
    root = Table(read_toml(path), path, "")
    directory = root.table("agencies")
    agencies = []
    for key in directory.entries():
        table = directory.table(key)
        domains = table.get("domains", list)
        if not domains or not all(isinstance(d, str) and "." in d for d in domains):
            raise table.fail("domains", "expected a list of mail domains such as [\"ssa.gov\"]")
        agencies.append(Agency(
            key=key.lower(),
            name=table.text("name"),
            domains=tuple(d.lower().lstrip("@") for d in domains),
            liaison=table.address("liaison", ""),
            response_days=table.positive("response_days", 30),
            business_days=table.get("business_days", bool, False),
            control_number=_pattern(table, "control_number"),
            release_valid_days=table.get("release_valid_days", int, 0),
            interim_days=_not_negative(table, "interim_days"),
            followup_days=_not_negative(table, "followup_days"),
            followup_limit=_not_negative(table, "followup_limit"),
            require_authentication=table.get("require_authentication", bool, True),
        ))
    root.reject_unknown()
    check_agencies(agencies, [directory.table(key) for key in directory.data])
    return tuple(agencies)


def _pattern(table: Table, key: str) -> re.Pattern[str] | None:
    """A regular expression; its first group (or the whole match when it has none) is the number."""
    text = table.text(key, "")
    if not text:
        return None
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as error:
        raise table.fail(key, f"not a valid regular expression: {error}") from None


ASSIGNMENT_RULES = ("portfolio", "weekday", "fewest-open")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _assignment(table: Table, staff: tuple[Staff, ...]) -> Assignment:
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


def _sms(table: Table) -> Sms:
    # Imported here: the parse worker imports this module and needs none of the phone-number data.
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
    listen = table.text("webhook_listen", "127.0.0.1:8025")
    if not re.match(r"^[^:\s]*:\d{1,5}$", listen):
        raise table.fail("webhook_listen", f"expected HOST:PORT, got {listen!r}")
    return Sms(
        account_sid=account, number=number, auth_token_env=table.text("auth_token_env", "TWILIO_AUTH_TOKEN"),
        api_base=api_base, poll=table.get("poll", bool, True), backlog_days=table.positive("backlog_days", 1),
        webhook_url=webhook_url, webhook_listen=listen,
        quiet_start=_clock_time(table, "quiet_start", "20:00"), quiet_end=_clock_time(table, "quiet_end", "09:00"),
        max_segments=table.positive("max_segments", 3), region=region,
        timeout_seconds=table.positive("timeout_seconds", 30), poll_seconds=table.positive("poll_seconds", 60))


def _schedule(table: Table) -> Schedule:
    day = table.text("report_day", "monday").lower()
    if day not in WEEKDAYS:
        raise table.fail("report_day", f"not a weekday (known: {', '.join(WEEKDAYS)})")
    start, end = _clock_time(table, "workday_start", "09:00"), _clock_time(table, "workday_end", "17:00")
    if end <= start:
        raise table.fail("workday_end", f"must be later than workday_start ({start:%H:%M})")
    return Schedule(
        checkin_days=_not_negative(table, "checkin_days", 30), followup_days=table.positive("followup_days", 10),
        followup_limit=table.positive("followup_limit", 3), closing_letter=table.get("closing_letter", bool, True),
        survey_days=_not_negative(table, "survey_days", 3), nudge_hours=_not_negative(table, "nudge_hours", 4),
        workday_start=start, workday_end=end, report_day=day, report_time=_clock_time(table, "report_time", "07:00"))


def _not_negative(table: Table, key: str, default: int = 0) -> int:
    value = table.get(key, int, default)
    if value < 0:
        raise table.fail(key, f"must be 0 or more, got {value}")
    return int(value)


def _clock_time(table: Table, key: str, default: str) -> time:
    text = table.text(key, default)
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise table.fail(key, f"expected a time of day such as {default!r}, got {text!r}") from None


def _urgency(table: Table) -> UrgencyRules:
    known = [rule.name for rule in fields(UrgencyRules)]
    table.declare(*known)  # a key outside these is reported with the other unknown keys, with its closest match
    try:
        return UrgencyRules.from_table({key: value for key, value in table.data.items() if key in known})
    except ValueError as error:
        raise ConfigError(f"{table.file}: {error}") from None
