"""One frozen, typed settings object read from config/hub.toml and config/agencies.toml: `Config` and `load`.

`load` reads the file's root, [office], [database], [inbox], [outbound], [limits], [letters], [commands]
and [[staff]] itself, and hands the agency directory (agency_directory) and the tables with readers of
their own (config_readers, and config_forms for [[forms]]) on; the values it builds are in config_values.
Every problem is reported as one line naming the file, the key and what is wrong. Relative paths are
relative to the office folder: the folder that holds `config/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.core.agency_directory import Agency, load_agencies
from hub.core.config_checks import check_staff
from hub.core.config_forms import Form, read_forms
from hub.core.config_oauth2 import OAuth2, read_auth, read_oauth2
from hub.core.config_readers import read_assignment, read_retention, read_schedule, read_sms, read_urgency, read_web
from hub.core.config_table import Table, read_toml
from hub.core.config_values import (
    MAIL_SYSTEMS,
    TENANT_ID,
    UNREACHABLE_CHOICES,
    Assignment,
    Commands,
    Inbox,
    Letters,
    Limits,
    Office,
    Outbound,
    Retention,
    Schedule,
    Sms,
    Staff,
    Web,
    person_named,
)
from hub.core.district import ZIP_PREFIX
from hub.core.secrets import secret as read_secret
from hub.core.urgency_rules import DEFAULT_RULES, UrgencyRules

PREFIX = re.compile(r"^[A-Z]{1,6}$")


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
    oauth2: OAuth2 | None = None
    retention: Retention = field(default=Retention())
    web: Web | None = None  # None: no [web] table, `hub run` serves no web app

    @property
    def oauth2_tenant(self) -> str:
        """[oauth2] tenant, lower-cased ("" without one): Microsoft 365's mail system compares it with the
        tenant Exchange stamps on internal mail."""
        return self.oauth2.tenant.strip().lower() if self.oauth2 else ""
    forms: tuple[Form, ...] = ()

    @property
    def supervisors(self) -> tuple[str, ...]:
        """Who gets the weekly report, escalations and nudges: staff marked supervisor, else the intake address."""
        marked = tuple(person.email for person in self.staff if person.supervisor)
        return marked or (self.office.intake_address,)

    def agency(self, key: str | None) -> Agency | None:
        return self._agencies_by_key.get(key) if key else None

    def agency_name(self, key: str | None) -> str:
        """The agency's name; the key itself for one agencies.toml no longer has ("" for none)."""
        agency = self.agency(key)
        return agency.name if agency else key or ""

    @cached_property
    def _agencies_by_key(self) -> dict[str, Agency]:
        return {agency.key: agency for agency in self.agencies}

    def staff_member(self, address: str | None) -> Staff | None:
        address = (address or "").lower()
        return next((person for person in self.staff if person.email == address), None)

    @property
    def staff_names(self) -> str:
        """What caseworkers type for each person (#assign sam), for a message that names nobody."""
        return ", ".join(person.short or person.first_name.lower() for person in self.staff)

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
            auth=read_auth(inbox),
        ),
        outbound=Outbound(
            url=_source_url(outbound, "url", "maildir:var/sent"),
            password_env=outbound.text("password_env", "HUB_SMTP_PASSWORD"),
            ca_file=outbound.text("ca_file", ""),
            timeout_seconds=outbound.positive("timeout_seconds", 60),
            give_up_hours=outbound.positive("give_up_hours", 48),
            auth=read_auth(outbound),
            sent_folder=_sent_folder(outbound),
            sent_folder_unreachable=_choice(outbound, "sent_folder_unreachable", UNREACHABLE_CHOICES),
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
            group_letters_per_minute=limits.positive("group_letters_per_minute", 30),
            parse_seconds=limits.positive("parse_seconds", 60),
        ),
        staff=staff,
        agencies=agencies,
        letters=Letters(
            folder=letters.text("folder", "letters"),
            privacy_release_url=letters.text("privacy_release_url", ""),
            privacy_release_form=letters.text("privacy_release_form", ""),
            survey_url=letters.text("survey_url", ""),
            notice_attachment_bytes=letters.not_negative("notice_attachment_bytes", 10 << 20),
        ),
        commands=Commands(require_authentication=commands.get("require_authentication", bool, True)),
        assignment=read_assignment(root.table("assignment"), staff),
        urgency=read_urgency(root.table("urgency")),
        sms=read_sms(sms) if root.has("sms") else None,
        schedule=read_schedule(root.table("schedule")),
        retention=read_retention(root.table("retention")),
        web=read_web(root.table("web")) if root.has("web") else None,
        oauth2=_oauth2(root, home),
        forms=read_forms(root.tables("forms"), office, staff),
    )
    root.reject_unknown()
    _check_mail_system(config, root)
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


def _oauth2(root: Table, home: Path) -> OAuth2 | None:
    """[oauth2], needed when [inbox] or [outbound] logs in with tokens."""
    settings = read_oauth2(root.table("oauth2"), home) if root.has("oauth2") else None
    for name in ("inbox", "outbound"):
        table = root.table(name)
        if settings is None and table.text("auth", "password") == "oauth2":
            raise table.fail("auth", "\"oauth2\" needs an [oauth2] table (provider and its settings)")
    return settings


def _sent_folder(table: Table) -> str:
    """`sent_folder` of [outbound]: "auto", "none" or the name of a folder of the inbox's account."""
    name = table.text("sent_folder", "auto")
    if not name.strip():
        raise table.fail("sent_folder", "expected \"auto\", \"none\" or the name of the Sent folder, got \"\"")
    return name


def _choice(table: Table, key: str, choices: tuple[str, ...]) -> str:
    """A key that takes one of `choices`; the first is its default."""
    value = table.text(key, choices[0])
    if value not in choices:
        raise table.fail(key, f"expected one of {', '.join(choices)}, got {value!r}")
    return value


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
    secret = read_secret("HUB_SECRET") or written
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
        mail_system=_mail_system(table),
        zip_codes=_zip_codes(table),
    )


def _zip_codes(table: Table) -> tuple[str, ...]:
    """`zip_codes`: ZIP or ZIP+4 prefixes ("27601", "276", "27603-12"); an empty list checks nothing."""
    given = table.get("zip_codes", list, [])
    for entry in given:
        if not isinstance(entry, str) or not ZIP_PREFIX.fullmatch(entry.strip()):
            raise table.fail("zip_codes", f"{entry!r} is not a ZIP or ZIP+4 prefix (digits and an optional dash, "
                                          'e.g. "27601" or "27603-12")')
    return tuple(entry.strip() for entry in given)


def _mail_system(table: Table) -> str:
    system = table.text("mail_system", "authres").strip().lower()
    if system not in MAIL_SYSTEMS:
        raise table.fail("mail_system", f"expected one of {', '.join(MAIL_SYSTEMS)}, got {system!r}")
    return system


def _check_mail_system(config: Config, root: Table) -> None:
    """Microsoft 365's internal mail is vouched for by the tenant id Exchange stamps, a GUID."""
    if config.office.mail_system != "microsoft365" or TENANT_ID.fullmatch(config.oauth2_tenant):
        return
    if not config.oauth2_tenant:
        raise root.table("office").fail("mail_system", '"microsoft365" needs [oauth2] tenant, the directory '
                                        "(tenant) id of the office's Microsoft 365 organization")
    raise root.table("oauth2").fail("tenant", f"{config.oauth2_tenant!r}: [office] mail_system = \"microsoft365\" "
                                    "compares it with the tenant id Exchange stamps on internal mail, so it must be "
                                    "that id (8-4-4-4-12 hexadecimal digits, as the Entra admin center shows it), "
                                    "not a domain")


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

