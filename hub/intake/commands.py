"""Caseworker commands: `#name argument` lines at the top of a staff message's new text.

`parse_commands` reads the block (pure). The registry holds each command's one line of help and the
function that turns its argument into a change; the changes of one message are applied together or
not at all (hub.intake.staff). A line that does not look like a command (`#1 priority`) ends the
block and is text; a command the registry does not know is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases import casework, contacts, merge, people
from hub.cases.casework import Actor, CaseworkError
from hub.cases.letter_queue import queue_letter
from hub.cases.release_signing import revoke_release_links
from hub.cases.views import find_case
from hub.core.config import Config
from hub.core.errors import NotFoundError
from hub.core.models import Attachment, Case, Message
from hub.core.refs import References
from hub.intake.reply_files import ReplyFiles
from hub.letters.templates import Letters

COMMAND_LINE = re.compile(r"^#([a-z][a-z-]*)(?:\s+(.*))?$", re.IGNORECASE)
RELATIVE_DAYS = re.compile(r"^(\d{1,3})\s*([dw])$", re.IGNORECASE)


@dataclass(frozen=True)
class Command:
    name: str
    argument: str


@dataclass(frozen=True)
class CommandBlock:
    commands: tuple[Command, ...]
    text: str                      # what follows the commands
    errors: tuple[str, ...] = ()

    def first(self, name: str) -> Command | None:
        return next((command for command in self.commands if command.name == name), None)


@dataclass(frozen=True)
class Context:
    """What a command needs to act on its case."""

    session: Session
    case: Case
    config: Config
    refs: References
    letters: Letters
    actor: Actor
    now: datetime
    letter_files: ReplyFiles = ReplyFiles()  # what #attach adds to the letters #send queues

    @property
    def today(self) -> date:
        return self.now.astimezone(ZoneInfo(self.config.office.timezone)).date()


Change = Callable[[], str]  # carries the command out; returns the line for the confirmation


def parse_commands(text: str) -> CommandBlock:
    lines = (text or "").strip().splitlines()
    commands: list[Command] = []
    errors: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        match = COMMAND_LINE.match(line)
        if not line:
            index += 1
            continue
        if match is None:
            break
        name, argument = match.group(1).lower(), (match.group(2) or "").strip()
        if name in REGISTRY:
            commands.append(Command(name, argument))
        else:
            errors.append(f"#{name}: unknown command (#help lists them)")
        index += 1
    return CommandBlock(tuple(commands), "\n".join(lines[index:]).strip(), tuple(errors))


def change_for(command: Command, context: Context) -> Change:
    """The change a command asks for, or CaseworkError saying what is wrong with it."""
    return REGISTRY[command.name][1](context, command.argument)


def help_lines() -> list[str]:
    return [f"#{name} {usage}" for name, (usage, _) in REGISTRY.items()]


def _assign(c: Context, argument: str) -> Change:
    person = c.config.person(argument)
    if person is None:
        raise CaseworkError(f"#assign {argument}: nobody on the staff answers to that name "
                            f"(staff: {c.config.staff_names})")
    return lambda: casework.assign(c.session, c.case, person, c.actor, c.now)


def _agency(c: Context, argument: str) -> Change:
    agency = c.config.agency(argument.lower())
    if agency is None:
        raise CaseworkError(f"#agency {argument}: no agency with that key in agencies.toml")
    return lambda: casework.set_agency(c.session, c.case, agency, c.actor, c.now, c.config)


def _label(c: Context, argument: str) -> Change:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", argument.lower()):
        raise CaseworkError(f"#label {argument!r}: a label is one word (letters, digits, dashes)")
    return lambda: casework.label(c.session, c.case, argument, c.actor, c.now)


def _unlabel(c: Context, argument: str) -> Change:
    return lambda: casework.unlabel(c.session, c.case, argument, c.actor, c.now)


def _status(c: Context, argument: str) -> Change:
    if argument.lower() not in casework.STATUSES or argument.lower() == "closed":
        raise CaseworkError(f"#status {argument}: expected one of new, open, pending-agency, pending-constituent")
    return lambda: casework.set_status(c.session, c.case, argument.lower(), c.actor, c.now)


def _close(c: Context, argument: str) -> Change:
    reason = argument.lower() or "resolved"
    if reason not in casework.CLOSE_REASONS:
        raise CaseworkError(f"#close {argument}: expected one of {', '.join(casework.CLOSE_REASONS)}")
    return lambda: casework.close(c.session, c.case, reason, c.actor, c.now, c.config)


def _reopen(c: Context, argument: str) -> Change:
    return lambda: casework.reopen(c.session, c.case, c.actor, c.now, c.config)


def _followup(c: Context, argument: str) -> Change:
    first, _, note = argument.partition(" ")
    day = parse_day(first, c.today)
    if day is None:
        raise CaseworkError(f"#followup {argument}: expected a number of days or weeks (14d, 2w) or a date "
                            "(2026-12-05)")
    return lambda: casework.followup(c.session, c.case, day, note.strip(), c.actor, c.config, c.refs, c.now)


def _note(c: Context, argument: str) -> Change:
    return lambda: casework.note(c.session, c.case, argument, c.actor, c.now)


def _to(c: Context, argument: str) -> Change:
    where = argument.lower() or "constituent"
    if where not in ("constituent", "agency") and not where.startswith(people.PREFIX) and \
            c.config.agency(where) is None:
        raise CaseworkError(f"#to {argument}: expected constituent, agency or an agency key from agencies.toml "
                            "(or person:NAME, one of the case's people)")
    return lambda: ""


def _send(c: Context, argument: str) -> Change:
    words = argument.lower().split()
    force = "force" in words[1:]
    if not words or words[0] not in c.letters.names() or any(w != "force" for w in words[1:]):
        raise CaseworkError(f"#send {argument}: expected a letter name ({', '.join(c.letters.names())}) "
                            "and optionally force")

    def send() -> str:
        _, recipient = queue_letter(c.session, c.config, c.refs, c.letters, c.case, words[0], None, force, c.actor,
                                    c.now, files=c.letter_files.ids)
        return f"{words[0]} queued for {recipient}{c.letter_files.with_names()}" + (" (forced)" if force else "")
    return send


def _attach(c: Context, argument: str) -> Change:
    # The files are found, and go with the text or the letters of the same reply, in hub.intake.staff.
    if not argument.strip():
        raise CaseworkError("#attach: name the files to send (hub case files REF lists them)")
    return lambda: ""


def _release(c: Context, argument: str) -> Change:
    words = argument.split()
    if words and [word.lower() for word in words] == ["revoke"]:
        return lambda: revoke_release_links(c.session, c.case, c.actor, c.now)
    if not words or words[0].lower() != "received" or len(words) > 2:
        raise CaseworkError(f"#release {argument}: expected `#release received [YYYY-MM-DD]` (the date it was "
                            "signed) or `#release revoke`")
    signed = parse_day(words[1], c.today, past=True) if len(words) == 2 else c.today
    if signed is None:
        raise CaseworkError(f"#release {argument}: {words[1]!r} is not a date (YYYY-MM-DD)")
    return lambda: casework.release_received(c.session, c.case, signed, c.actor, c.now,
                                             attachment_id=_latest_attachment(c), today=c.today)


def _address(c: Context, argument: str) -> Change:
    # One line, as staff type it; casework.set_address refuses it without a ZIP at its end.
    if not argument.strip():
        raise CaseworkError("#address: give the address on the line, ending with its ZIP "
                            "(#address 214 Oak Street, Durham, NC 27701)")
    return lambda: casework.set_address(c.session, c.case, argument, c.actor, c.now, c.config.office.zip_codes)


def _merge(c: Context, argument: str) -> Change:
    words = argument.split()
    if not words or len(words) > 2 or words[1:] not in ([], ["force"]):
        raise CaseworkError(f"#merge {argument}: expected `#merge REF [force]` (the case to fold into this one)")
    try:
        merged = find_case(c.session, c.refs, words[0])
    except NotFoundError as error:
        raise CaseworkError(f"#merge {argument}: {error}") from None
    merge.refuse_merge(c.session, merged, c.case, force=len(words) == 2)
    return lambda: merge.merge(c.session, merged, c.case, c.actor, c.now, force=len(words) == 2)


def _contact(c: Context, argument: str) -> Change:
    verb, _, value = argument.partition(" ")
    if verb.lower() not in ("add", "remove") or not value.strip():
        raise CaseworkError(f"#contact {argument}: expected `#contact add [email|phone] VALUE` or "
                            "`#contact remove VALUE`")
    change = contacts.add_contact if verb.lower() == "add" else contacts.remove_contact
    return lambda: change(c.session, c.case, value.strip(), c.actor, c.now)


def _channel(c: Context, argument: str) -> Change:
    return lambda: contacts.set_channel(c.session, c.case, argument.strip().lower(), c.actor, c.now)


def _person(c: Context, argument: str) -> Change:
    request = people.requested(argument)
    return lambda: people.change_people(c.session, c.case, request, c.config, c.actor, c.now)


def _help(c: Context, argument: str) -> Change:
    return lambda: "the commands:\n" + "\n".join(help_lines())


def _latest_attachment(c: Context) -> int | None:
    """The newest attachment the constituent sent on the case: the evidence of the release."""
    return c.session.scalar(select(Attachment.id).join(Message, Message.id == Attachment.message_id)
                            .where(Message.case_id == c.case.id, Message.kind == "constituent")
                            .order_by(Attachment.id.desc()).limit(1))


def parse_day(text: str, today: date, past: bool = False) -> date | None:
    """`14d`, `2w` (from today; not with `past`) or `2026-12-05`."""
    relative = RELATIVE_DAYS.match(text.strip())
    if relative and not past:
        count = int(relative.group(1)) * (7 if relative.group(2).lower() == "w" else 1)
        return today + timedelta(days=count)
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


REGISTRY: dict[str, tuple[str, Callable[[Context, str], Change]]] = {
    "assign": ("PERSON: give the case to a caseworker (first name, short name or address)", _assign),
    "agency": ("KEY: the agency the case is with (a key from agencies.toml, e.g. ssa, va)", _agency),
    "label": ("NAME: add a label, e.g. urgent", _label),
    "unlabel": ("NAME: remove a label", _unlabel),
    "status": ("new | open | pending-agency | pending-constituent", _status),
    "close": ("[resolved | referred | withdrawn | unresolved]: close the case (pending reminders cancelled; "
              "text below goes in the closing letter)", _close),
    "reopen": (": open a closed case again", _reopen),
    "followup": ("14d | 2w | YYYY-MM-DD [note]: remind the caseworker on that day", _followup),
    "note": ("[text]: keep this message on the case as an internal note; nothing is sent", _note),
    "to": ("constituent | agency | KEY | person:NAME: send the text below to them (default: the constituent)",
           _to),
    "send": ("LETTER [force]: queue a letter (agency-inquiry needs a valid privacy release unless forced)",
             _send),
    "release": ("received [YYYY-MM-DD]: a signed privacy release is on file (signed that day; default today); "
                "revoke: the case's unused links to sign it stop working", _release),
    "attach": ("NAME...: send these files on the case (hub case files REF) with the text below, or with the "
               "letters #send queues", _attach),
    "address": ("STREET, CITY, ST ZIP: the constituent's postal address, on one line ending with the ZIP",
                _address),
    "merge": ("REF [force]: fold case REF into this one (its messages, events, releases and reminders move; it "
              "closes and its reference threads here); force: even when the constituents differ", _merge),
    "contact": ("add [email|phone] VALUE | remove VALUE: another address or number the constituent writes from "
                "(their mail and texts join the case), or one no longer theirs", _contact),
    "channel": ("email | sms: letters to the constituent go by this channel", _channel),
    "person": ("add NAME EMAIL|PHONE ROLE | remove NAME: someone else on the case (ROLE: spouse, partner, parent, "
               "child, relative, caregiver, guardian, representative, attorney, other): their mail and texts join "
               "it, and letters can go to them (person:NAME)", _person),
    "help": (": mail this list back", _help),
}
