"""A staff member's mail on a case: authenticated first, then its commands applied together or not at
all, its new text relayed (never the quoted notice: a reply with nothing new relays nothing), and one
confirmation (or the reason nothing happened) mailed back.

Anyone can write a staff address into `From:`; a command counts only when the office's own mail
system vouches for it (hub.intake.authentication: its Authentication-Results, or Exchange Online's stamp
on mail inside the tenant) and the From header names that one staff address. Mail that fails is kept on
the case as a note, and the real staff member is told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from hub.cases.casework import Actor, CaseworkError, record, set_agency
from hub.cases.letter_queue import queue_letter
from hub.cases.people import PREFIX, person_channel, person_named
from hub.cases.sms_optout import opted_out
from hub.core.config import Config
from hub.core.errors import UserError
from hub.core.models import Case, Message
from hub.core.refs import References
from hub.intake.authentication import sender_verdict
from hub.intake.commands import CommandBlock, Context, change_for, parse_commands
from hub.intake.message import InboundMessage
from hub.intake.reply_files import Chosen, ReplyFiles, chosen_files, sendable
from hub.intake.thread import CaseFacts
from hub.letters.notice_digest import REFUSAL, enqueue_capped
from hub.letters.outbox import AUTO_GENERATED, enqueue
from hub.letters.signature import without_sign_off
from hub.letters.sms_relay import sms_relay
from hub.letters.templates import CHANNELS, RELAY, Letters

# A refusal quotes at most this many lines of the reply it refused.
REFUSED_LINES = 20
SHORTENED = "your text was too long for"
CLOSING_LETTER = "case-closed"  # `#close` with text for the constituent: her text goes in this letter
NOTHING_NEW = ("Your reply had no new text above the quoted notice, so nothing went to the constituent.\n"
               "Write your answer above the notice and send it again.")
# The message a relayed answer replies to, so that it threads in the recipient's mail client.
_LAST_FROM = (select(Message.message_id, Message.references)
              .where(Message.case_id == bindparam("case_id"), Message.direction == "in",
                     Message.kind == bindparam("kind"), Message.message_id.is_not(None))
              .order_by(Message.at.desc(), Message.id.desc()).limit(1))


@dataclass(frozen=True)
class Handled:
    reason: str   # for the message's disposition: what happened


@dataclass(frozen=True)
class _Relay:
    recipient: str
    to_agency: bool
    channel: str = "email"
    person: str = ""  # one of the case's other people (#to person:NAME)


def handle_staff_mail(connection: Connection, message: InboundMessage, facts: CaseFacts, row_id: int,
                      config: Config, refs: References, letters: Letters, now: datetime) -> Handled:
    session = Session(bind=connection)
    case = session.get_one(Case, facts.case_id)
    actor = Actor(message.sender, "mail", row_id)

    def tell(notice: str, text: str = "", refused: str = "") -> None:
        session.flush()
        options: dict[str, Any] = dict(case_id=case.id, case_ref=case.ref, recipient=message.sender,
                                       automatic=AUTO_GENERATED, in_reply_to=message.message_id,
                                       context={"notice": notice, "text": text[:4000]})
        if refused:  # a flood of refused mail gets a few replies and one digest, which lists the reasons
            options["context"]["reasons"] = refused[:4000]
            enqueue_capped(connection, config, refs, now, letter=REFUSAL, about=message.sender, **options)
        else:
            enqueue(connection, letter=REFUSAL, refs=refs, domain=config.office.domain, now=now, **options)

    def refuse(problems: list[str], kind: str = "commands-refused") -> Handled:
        record(session, case, actor, kind, "; ".join(problems), now)
        reasons = "\n".join(f"- {problem}" for problem in problems)
        tell("Nothing was applied or sent", reasons + what_was_refused(message), refused=reasons)
        return Handled("nothing applied: " + "; ".join(problems))

    doubt = authentication_problem(message, config)
    if doubt:
        return refuse([f"your message could not be authenticated ({doubt}); it is kept on the case as a note"],
                      "unauthenticated")
    # A reply that is only the quoted notice has nothing new: new_text then holds the notice itself.
    block = parse_commands("" if message.nothing_new else message.new_text)
    problems = list(block.errors)
    relay = None
    if block.first("note") is None and block.text:
        try:
            relay = _relay_target(connection, block, facts, config)
        except CaseworkError as error:
            problems.append(str(error))
    try:
        chosen = chosen_files(session, case, [c.argument for c in block.commands if c.name == "attach"], row_id)
    except CaseworkError as error:
        chosen = Chosen((), ())
        problems.append(str(error))
    problems += _attach_problems(block, relay, chosen)
    budget = config.letters.notice_attachment_bytes
    text_files = sendable(chosen.for_text(), budget, relay is not None and relay.channel == "sms") if relay \
        else ReplyFiles()
    letter_files = ReplyFiles() if relay else sendable(chosen.attached, budget)
    context = Context(session, case, config, refs, letters, actor, now, letter_files)
    changes = []
    for command in block.commands:
        try:
            changes.append(change_for(command, context))
        except CaseworkError as error:
            problems.append(str(error))
    if problems:
        return refuse(problems)
    if not block.commands and not block.text:
        record(session, case, actor, "nothing-relayed", "the reply had no new text above the quoted notice", now)
        tell("Nothing was sent", NOTHING_NEW)
        return Handled("nothing sent: no new text")
    closing = relay is not None and _closes_with_text(block, relay, case, config, letters)
    savepoint = session.begin_nested()
    session.connection()  # the SAVEPOINT now, not at the session's first statement: the relay row is inside it
    try:
        cut = ""
        if relay is not None and not closing:  # queued first: delivery sends in that order, her text first
            cut = _queue_relay(connection, case, message, block.text, relay, text_files, config, refs, now)
        lines = [line for line in (change() for change in changes) if line]
        if closing:
            staff = config.staff_member(message.sender)
            queue_letter(session, config, refs, letters, case, CLOSING_LETTER, None, True, actor, now,
                         files=text_files.ids, text=without_sign_off(block.text, staff))
            lines.append(f"your text goes to the constituent in the closing letter{text_files.with_names()}")
        elif relay is not None:
            lines += _relayed(session, case, block.text, relay, text_files, cut, actor, config, now)
        elif block.first("to") is not None and not block.text:
            lines.append("nothing was sent: your reply had no text below the commands")
        left = text_files.left_lines() + letter_files.left_lines()
        lines += left
        session.flush()
    except (CaseworkError, UserError) as error:
        savepoint.rollback()
        return refuse([str(error)])
    savepoint.commit()
    shortened = any(line.startswith(SHORTENED) for line in lines)
    if block.commands or shortened or left:
        tell("Done, but your text was shortened" if shortened else "Done, but not every file was sent" if left
             else "Done", "\n".join(f"- {line}" for line in lines))
    session.flush()
    return Handled("; ".join(line.splitlines()[0] for line in lines) or "no commands, nothing to send")


def _attach_problems(block: CommandBlock, relay: _Relay | None, chosen: Chosen) -> list[str]:
    """What is wrong with #attach in this reply: files need something to go with, and a text carries none."""
    if not chosen.attached:
        return []
    if relay is None and block.first("send") is None:
        return ["#attach: nothing to send the files with: write your text below the commands, or #send a letter"]
    if relay is not None and relay.channel == "sms":
        return ["#attach: the constituent is reached by text, which carries no files"]
    return []


def _closes_with_text(block: CommandBlock, relay: _Relay, case: Case, config: Config, letters: Letters) -> bool:
    """`#close` with text for the constituent: her text is the closing letter's, not a second message (when
    the office's closing letter has a place for it; else it goes as written, and the letter as usual)."""
    return (block.first("close") is not None and block.first("reopen") is None and not relay.to_agency
            and not relay.person
            and case.status != "closed" and config.schedule.closing_letter
            and all(letters.reads(CLOSING_LETTER, "text", channel) for channel in CHANNELS
                    if CLOSING_LETTER in letters.names(channel)))


def what_was_refused(message: InboundMessage) -> str:
    """The reply's new text, quoted, so the caseworker sees what was tried in her name (a forgery included)."""
    lines = ("" if message.nothing_new else message.new_text).strip().splitlines()
    if not lines:
        return ""
    shown = [f"> {line}".rstrip() for line in lines[:REFUSED_LINES]]
    if len(lines) > REFUSED_LINES:
        shown.append(f"> … ({len(lines) - REFUSED_LINES} more lines)")
    return "\n\nWhat was refused:\n" + "\n".join(shown)


def authentication_problem(message: InboundMessage, config: Config) -> str:
    """Why a staff member's mail may not act ("" when the office's server vouches for it)."""
    if message.from_address != message.sender:
        return "the From header does not name exactly this staff address"
    if not config.commands.require_authentication:
        return ""
    verdict = sender_verdict(message, config)
    return "" if verdict.authenticated else verdict.reason


def _relay_target(connection: Connection, block: CommandBlock, facts: CaseFacts, config: Config) -> _Relay:
    target = block.first("to")
    where = (target.argument.lower() if target else "") or "constituent"
    if where == "constituent":
        channel, recipient = facts.contact()
        if not recipient:
            raise CaseworkError("the case has no constituent address or number to send your text to")
        stopped = opted_out(connection, recipient) if channel == "sms" else None
        if stopped is not None:
            raise CaseworkError(f"the constituent's number opted out of texts on {stopped[0]:%Y-%m-%d} and there "
                                "is no email address on the case: call them, or wait for them to text START")
        return _Relay(recipient, False, channel)
    if where.startswith(PREFIX):
        return _person_relay(connection, facts, target.argument[len(PREFIX):] if target else "")
    # `#to agency` means the agency the case has once this message's own #agency line is applied.
    named = [command.argument.lower() for command in block.commands if command.name == "agency"]
    key = (named[-1] if named else facts.agency) if where == "agency" else where
    agency = config.agency(key)
    if agency is None:
        raise CaseworkError("#to agency: the case has no agency yet (#agency KEY, or #to KEY)" if where == "agency"
                            else f"#to {where}: no agency with that key in agencies.toml")
    if not agency.liaison:
        raise CaseworkError(f"#to {where}: {agency.name} has no liaison address in agencies.toml")
    return _Relay(agency.liaison, True)


def _person_relay(connection: Connection, facts: CaseFacts, name: str) -> _Relay:
    """`#to person:NAME`: her text to one of the case's people, by email when they have an address."""
    session = Session(bind=connection)
    person = person_named(session, session.get_one(Case, facts.case_id), name)
    channel, recipient = person_channel(person)
    stopped = opted_out(connection, recipient) if channel == "sms" else None
    if stopped is not None:
        raise CaseworkError(f"#to person:{person.name}: their number opted out of texts on {stopped[0]:%Y-%m-%d}")
    return _Relay(recipient, False, channel, person.name)


def _queue_relay(connection: Connection, case: Case, message: InboundMessage, text: str, relay: _Relay,
                 files: ReplyFiles, config: Config, refs: References, now: datetime) -> str:
    """Her text in the outbox; returns the part a text message's limit cut off ("" when nothing was)."""
    answered = connection.execute(_LAST_FROM, {"case_id": case.id,
                                               "kind": "agency" if relay.to_agency else "constituent"}).first()
    body, cut = None, ""
    if relay.channel == "sms":
        if config.sms is None:
            raise CaseworkError("the constituent is reached by text, but the hub has no [sms] line configured")
        body, cut = sms_relay(text, config.staff_member(message.sender), config.office.name, config.sms.max_segments)
    enqueue(connection, case_id=case.id, case_ref=case.ref, letter=RELAY, recipient=relay.recipient, refs=refs,
            domain=config.office.domain, now=now, in_reply_to=answered.message_id if answered else None,
            references=answered.references if answered else None, actor=message.sender, channel=relay.channel,
            context={"text": text, "staff": message.sender, "to_agency": relay.to_agency, "files": list(files.ids)},
            subject="" if body is not None else None, body=body)
    return cut


def _relayed(session: Session, case: Case, text: str, relay: _Relay, files: ReplyFiles, cut: str, actor: Actor,
             config: Config, now: datetime) -> list[str]:
    """After the commands: the agency `#to KEY` names, the status her text leaves, her confirmation's lines."""
    lines = []
    if relay.to_agency and case.agency is None:
        agency = next((a for a in config.agencies if a.liaison == relay.recipient), None)
        if agency is not None:
            lines.append(set_agency(session, case, agency, actor, now, config))
    # Status follows the conversation: waiting on whoever was just asked.
    waiting = "pending-agency" if relay.to_agency else ("pending-constituent" if "?" in text else "open")
    if case.status != "closed" and case.status != waiting:
        record(session, case, actor, "status", f"{case.status} -> {waiting}", now)
        case.status = waiting
    by_text = " by text message" if relay.channel == "sms" else ""
    who = "the agency" if relay.to_agency else relay.person or "the constituent"
    lines.append(f"your text goes to {who}{by_text}"
                 f"{files.with_names()}")
    if cut:
        assert config.sms is not None
        lines.append(f"{SHORTENED} {config.sms.max_segments} text messages; this part was not sent:\n\n{cut}")
    return lines
