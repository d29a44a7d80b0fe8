"""The pure decision: given what screening, identify and thread found, what happens to a message?

No database and no network here; the answer is a Decision whose effects apply.py turns into rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hub.core.agency_directory import Agency
from hub.core.config import Config
from hub.core.district import district_change, district_note
from hub.intake.identify import Identity
from hub.intake.keywords import keyword, status_word
from hub.intake.list_requests import ListRequest, list_request
from hub.intake.message import InboundMessage
from hub.intake.screen import Screening
from hub.intake.thread import CaseFacts, CaseMatch
from hub.intake.urgency import find_urgency
from hub.letters.context import spoken_date
from hub.letters.outbox import AUTO_REPLIED

__all__ = ["CAUSES_MAIL", "AgencyAnswered", "AnswerStatus", "AnswerTriage", "Archived", "CaseFacts", "Decision",
           "Effect", "FormDetails", "FormRelease", "ListRequest", "MarkBounced", "Notify", "OpenCase", "OptIn",
           "OptOut", "QueueLetter", "Reopen", "SetAgency", "SetAgencyControl", "StaffMail", "StartReminders",
           "TellIntake", "new_case_for", "on_case", "route", "status_request"]


@dataclass(frozen=True)
class OpenCase:
    """A new case for the sending constituent; labelled urgent, with the reason, when it is; `previous`
    names the constituent's closed case the message was about, too long closed to reopen."""

    urgent: str = ""
    previous: str = ""


@dataclass(frozen=True)
class Reopen:
    """The constituent wrote on their case soon after it closed: it is open again (the closing letter says
    a reply reopens it), its closing reminders are cancelled and a check-in is set."""


@dataclass(frozen=True)
class QueueLetter:
    letter: str
    to: str  # "constituent" | "sender" (answered on the channel it came by) | an address
    automatic: str = ""


@dataclass(frozen=True)
class MarkBounced:
    addresses: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Notify:
    """Tell the case's caseworker (or, for `to`, that staff address) about this message: `notice` is what
    happened and who did it, short, for the subject line; `text` the rest, for the body."""

    notice: str
    text: str = ""
    to: str | None = None


@dataclass(frozen=True)
class StaffMail:
    """A caseworker wrote on the case: authenticate, apply the commands, relay the text (hub.intake.staff)."""


@dataclass(frozen=True)
class SetAgency:
    key: str


@dataclass(frozen=True)
class SetAgencyControl:
    number: str


@dataclass(frozen=True)
class StartReminders:
    """A new case: its first check-in and its nudge (hub.cases.reminders.case_opened)."""


@dataclass(frozen=True)
class Archived:
    """A case opened from an archive (`hub ingest --archive`): it takes this status, and nothing is ever
    scheduled for it (hub.cases.reminders.schedule_missing passes it by)."""

    status: str


@dataclass(frozen=True)
class AgencyAnswered:
    """The agency wrote on the case: its pending follow-up is satisfied (hub.cases.reminders.agency_answered)."""


@dataclass(frozen=True)
class OptOut:
    """The sender's number wants no more texts (STOP)."""


@dataclass(frozen=True)
class FollowChannel:
    """The constituent wrote by the other channel: letters to them go by it from now on."""

    channel: str


@dataclass(frozen=True)
class OptIn:
    """The sender's number may have texts again (START)."""


@dataclass(frozen=True)
class FormDetails:
    """A web form from the case's constituent: what it says of them fills in what their party lacks."""


@dataclass(frozen=True)
class FormRelease:
    """A web form's privacy release, ticked and signed: recorded on the case with the submission as evidence."""

    signature: str


@dataclass(frozen=True)
class TellIntake:
    """A message held in triage: the intake address is told, with the cases it likely belongs to
    (hub.intake.triage_notice)."""


@dataclass(frozen=True)
class AnswerTriage:
    """A caseworker answered the notice of a held message: authenticate, then file, open or dismiss it
    (hub.intake.triage_reply)."""

    item_id: int


@dataclass(frozen=True)
class AnswerStatus:
    """The constituent asked where their cases stand (STATUS, ESTADO): `cases` are the references of their open
    cases, most recent first (none: they have no open case); the answer is in `language`
    (hub.intake.status_answer)."""

    language: str
    cases: tuple[str, ...] = ()


Effect = (OpenCase | QueueLetter | MarkBounced | Notify | StaffMail | SetAgency | SetAgencyControl | OptOut | OptIn
          | FollowChannel
          | StartReminders | AgencyAnswered | Archived | Reopen | FormDetails | FormRelease | TellIntake | AnswerTriage
          | ListRequest | AnswerStatus)
# What an archive import leaves out: mail now, and reminders that would cause mail later.
CAUSES_MAIL = (QueueLetter, Notify, StaffMail, StartReminders, AgencyAnswered, TellIntake, AnswerTriage, ListRequest,
               AnswerStatus)


@dataclass(frozen=True)
class Decision:
    disposition: str          # "case" (on an existing or new case) | "triage" | "command" (staff mail on no case:
                              # an answer to a triage notice, a list request)
    kind: str                 # the message's kind: constituent | agency | staff | auto-reply | bounce
    reason: str
    case_id: int | None = None
    triage_case_id: int | None = None
    effects: tuple[Effect, ...] = ()


def route(screening: Screening, identity: Identity, match: CaseMatch, message: InboundMessage,
          config: Config, received: datetime | None = None) -> Decision:
    if message.form is not None and message.form.problem:
        return _triage("constituent", message.form.problem, match)
    if screening.is_automatic:
        return _automatic(screening, match)
    if identity.role == "staff" and match.triage_item is not None:
        return Decision("command", "staff", f"answers the notice of triage item {match.triage_item}",
                        effects=(AnswerTriage(match.triage_item),))
    if match.refused:
        return _triage(identity.role, match.refused, match)
    if identity.doubt:
        return _triage(identity.role, f"unauthenticated agency mail: {identity.doubt}", match)
    if identity.role == "unknown":
        return _triage(identity.role, "no sender address", match)
    if identity.role == "office":
        return _triage("staff", "sent from the office's own address", match)
    if identity.role == "constituent" and (language := status_request(message)):
        return _status(language, match, message)
    if message.channel == "sms" and (word := keyword(message.text)):
        return _keyword(word, match, message)
    facts = match.facts
    if facts is None:
        if identity.role == "constituent":
            return _new_case(message, config, received)
        if identity.role == "staff" and (request := list_request(message, config)) is not None:
            return Decision("command", "staff", f"staff asked for a list: #{request.command}", effects=(request,))
        return _triage(identity.role, f"{identity.role} mail with no case reference", match)
    if identity.role == "constituent" and not facts.may_write(message.sender):
        # A forwarded reference must not leak a constituent's file: a caseworker confirms first.
        return _triage("constituent", f"sender is not a party on {facts.ref}", match)
    return on_case(identity, match, message, config, received)


def on_case(identity: Identity, match: CaseMatch, message: InboundMessage, config: Config,
            received: datetime | None = None) -> Decision:
    """What a message does on the case it is matched to, once nothing holds it back (also a held message a
    caseworker files on a case: hub.intake.triage_filing)."""
    facts = match.facts
    assert facts is not None
    threaded = f"threaded by {match.via}"
    if identity.role == "staff":
        return Decision("case", "staff", threaded, case_id=facts.case_id, effects=(StaffMail(),))
    if identity.role == "agency" and identity.agency is not None:
        return Decision("case", "agency", threaded, case_id=facts.case_id,
                        effects=_agency_answer(identity.agency, facts, message))
    if message.form is not None and not facts.constituent_is(message.sender):
        # Someone else on the case: what the form says is theirs, not the constituent's to take.
        form_notice = Notify(f"Web form from {_who(message, facts)}", _lines(
            f"Web form {message.form.form_name}", "What it gives (address, release) was not applied to the "
            "constituent: it came from someone else on the case"))
        return Decision("case", identity.role, threaded, case_id=facts.case_id, effects=(form_notice,))
    if message.form is not None:
        moved = district_change(facts.constituent_zip, message.form.zip_code, config.office.zip_codes)
        form_notice = Notify(f"Web form from {_who(message, facts)}", _lines(f"Web form {message.form.form_name}",
                                                                      *_form_notes(message), moved))
        return Decision("case", identity.role, threaded, case_id=facts.case_id,
                        effects=(FormDetails(), *_release(message), form_notice))
    notice = f"New {'text' if message.channel == 'sms' else 'message'} from {_who(message, facts)}"
    follow = (FollowChannel(message.channel),) if identity.role == "constituent" and \
        message.channel != facts.contact_channel and facts.constituent_is(message.sender) else ()
    if identity.role == "constituent" and facts.status == "closed":
        closed_on = _closed_on(facts, config)
        if not _long_closed(facts, config, received):
            return Decision("case", "constituent", f"{threaded}; reopened the case closed on {closed_on}",
                            case_id=facts.case_id,
                            effects=(Reopen(), *follow,
                                     Notify(notice, _lines(f"It reopened the case, closed on {closed_on}"))))
        return _new_case(message, config, received, previous=facts.ref,
                         about=f"this constituent's earlier case {facts.ref} was closed on {closed_on}")
    others = (f"Filed on this case, the most recent of {len(match.others) + 1} open cases for this number; "
              f"the others: {', '.join(match.others)}") if match.others else ""
    return Decision("case", identity.role, threaded, case_id=facts.case_id,
                    effects=(*follow, Notify(notice, _lines(others))))


def _who(message: InboundMessage, facts: CaseFacts | None = None) -> str:
    """Who a notice says a constituent's message is from: the name they wrote or typed in the form, else the
    name on their case, else their address or number."""
    if facts is not None and facts.person:
        return facts.person
    form_name = message.form.name if message.form is not None else ""
    on_file = facts.constituent_name if facts is not None else ""
    return " ".join((message.sender_name or form_name or on_file or message.sender).split())[:80] or "someone"


def _lines(*sentences: str) -> str:
    """A notice's text: one sentence a line, each starting with a capital and ending with a full stop."""
    return "\n".join(sentence[:1].upper() + sentence[1:] + ("" if sentence.endswith((".", "!", "?")) else ".")
                     for sentence in map(str.strip, sentences) if sentence)


def _new_case(message: InboundMessage, config: Config, received: datetime | None, previous: str = "",
              about: str = "") -> Decision:
    urgent = _urgent(message, config, received)
    reason = ("new urgent case" if urgent else "new case") + (f"; {about}" if about else "")
    return Decision("case", "constituent", reason, effects=_opening(urgent, message, config, previous, about))


def new_case_for(message: InboundMessage, config: Config, received: datetime | None) -> Decision:
    """A new case for the sender of a held message, as their message would have opened (triage's #new)."""
    return _new_case(message, config, received)


def _long_closed(facts: CaseFacts, config: Config, received: datetime | None) -> bool:
    """Closed longer ago than a reply may reopen it (`[schedule] reopen_days`)."""
    return facts.closed_at is not None and received is not None and \
        received - facts.closed_at > timedelta(days=config.schedule.reopen_days)


def _closed_on(facts: CaseFacts, config: Config) -> str:
    if facts.closed_at is None:
        return "an unknown day"
    return spoken_date(facts.closed_at.astimezone(ZoneInfo(config.office.timezone)).date())


def _opening(urgent: str, message: InboundMessage, config: Config, previous: str = "",
             about: str = "") -> tuple[Effect, ...]:
    """A new case for a constituent: acknowledged on their channel, their caseworker told; `previous`
    and `about` name the closed case the message was about."""
    form = message.form
    notes = [f"Urgent: {urgent}" if urgent else "", f"By web form {form.form_name}" if form is not None else "",
             about, *_form_notes(message), district_note(form.zip_code if form else "", config.office.zip_codes)]
    acknowledgement: tuple[Effect, ...] = (QueueLetter("acknowledgement", "constituent", AUTO_REPLIED),)
    if form is not None and not form.email and config.sms is None:
        acknowledgement = ()
        notes.append("The form gives a phone number and no email address, and the office has no SMS line, so no "
                     "acknowledgement went: please call them.")
    notice = Notify(f"New {'URGENT ' if urgent else ''}case from {_who(message)}", _lines(*notes))
    return (OpenCase(urgent, previous), *acknowledgement, *_release(message), notice, StartReminders())


def _form_notes(message: InboundMessage) -> tuple[str, ...]:
    form = message.form
    if form is not None and form.release_signature:
        return (f"A privacy release was signed on the form ({form.release_signature}) and is recorded.",)
    if form is not None and form.release_note:
        return (form.release_note,)
    return ()


def _release(message: InboundMessage) -> tuple[Effect, ...]:
    form = message.form
    return (FormRelease(form.release_signature),) if form is not None and form.release_signature else ()


def _keyword(word: str, match: CaseMatch, message: InboundMessage) -> Decision:
    """STOP, START and HELP: never a new case, never an acknowledgement."""
    facts = match.facts
    if word == "help":
        effects: tuple[Effect, ...] = (QueueLetter("sms-help", "sender", AUTO_REPLIED),)
        if facts is None:
            return Decision("triage", "constituent", "HELP from a number with no open case: answered with the help "
                            "text", effects=effects)
        return Decision("case", "constituent", "HELP: answered with the help text", case_id=facts.case_id,
                        effects=effects)
    said = message.text.strip().upper()
    if word == "opt-out":
        effects = (OptOut(),)
        if facts is not None:
            where = ("letters go by email from now on" if facts.constituent_email else
                     "there is no email address on file, so nothing more reaches them in writing until they text "
                     "START")
            effects += (Notify(f"The constituent texted {said}", _lines(f"No more texts go to this number; {where}")),)
    else:
        effects = (OptIn(),)
        if facts is not None:
            effects += (Notify(f"The constituent texted {said}", "Texts to this number are allowed again."),)
    if facts is None:
        return Decision("triage", "constituent", f"{said} from a number with no open case (recorded)",
                        triage_case_id=None, effects=effects)
    return Decision("case", "constituent", f"keyword {said}", case_id=facts.case_id, effects=effects)


def status_request(message: InboundMessage) -> str | None:
    """The language of the answer when the message asks for the status: a text that is only STATUS or ESTADO,
    or mail with only that for its subject (a web form never does)."""
    if message.form is not None:
        return None
    return status_word(message.text if message.channel == "sms" else message.subject)


def _status(language: str, match: CaseMatch, message: InboundMessage) -> Decision:
    """STATUS: answered with the sender's own cases (`match` is hub.intake.thread.own_cases); never a new case,
    never a reopened one, the caseworker told only of mail that says more. Mail is answered only when its
    address is a constituent's on a case; a text, also when it is on none (the answer then says so, and no
    more)."""
    facts = match.facts
    said = (message.text if message.channel == "sms" else message.subject).strip().upper()
    if facts is None:
        if message.channel != "sms":
            return Decision("triage", "constituent", f"{said} from an address on no case: not answered")
        return Decision("triage", "constituent", f"{said} from a number on no case: answered that there is none",
                        effects=(AnswerStatus(language),))
    cases = (facts.ref, *match.others) if facts.status != "closed" else ()
    about = f"{len(cases)} open case(s)" if cases else "no open case"
    effects: tuple[Effect, ...] = (AnswerStatus(language, cases),)
    if _wrote_more(message):  # nothing lost: what they wrote below the subject reaches the caseworker
        effects += (Notify(f"New message from {_who(message, facts)}",
                           _lines(f"Its subject asked for the status ({said}): the answer went to them")),)
    return Decision("case", "constituent", f"{said}: answered with the status of {about}", case_id=facts.case_id,
                    effects=effects)


def _wrote_more(message: InboundMessage) -> bool:
    """Mail asking for the status that also says something new, or brings files."""
    if message.channel == "sms":
        return False
    new = "" if message.nothing_new else message.new_text.strip()
    return bool(message.attachments) or bool(new) and status_word(new) is None


def _urgent(message: InboundMessage, config: Config, received: datetime | None) -> str:
    """Why a message that opens a case is urgent, or "". Read only here: a third of the messages, and
    tens of microseconds each when trigger words are present."""
    written = message.date or received
    if written is None:
        return ""
    urgency = find_urgency(message.subject, message.new_text,
                           written.astimezone(ZoneInfo(config.office.timezone)).date(), config.urgency)
    return urgency.reason if urgency else ""


def control_number(agency: Agency | None, message: InboundMessage) -> str | None:
    """The agency's own case number in its mail's subject, else its new text (first group, or the match)."""
    if agency is None or agency.control_number is None:
        return None
    for text in (message.subject, message.new_text):
        found = agency.control_number.search(text or "")
        if found:
            return (found.group(1) if found.groups() else found.group(0)).strip()[:64] or None
    return None


def _agency_answer(agency: Agency, facts: CaseFacts, message: InboundMessage) -> tuple[Effect, ...]:
    # The notice comes last: setting the agency may assign the case, and the notice goes to that caseworker.
    effects: list[Effect] = []
    if facts.agency is None:
        effects.append(SetAgency(agency.key))
    effects.append(AgencyAnswered())
    number = control_number(agency, message)
    if number and not facts.agency_control and (facts.agency in (None, agency.key)):
        effects.append(SetAgencyControl(number))
    return (*effects, Notify(f"Answer from {agency.short_name}"))


def _automatic(screening: Screening, match: CaseMatch) -> Decision:
    kind = "bounce" if screening.verdict == "bounce" else "auto-reply"
    effects: tuple[Effect, ...] = ()
    if screening.failed_recipients:
        effects = (MarkBounced(screening.failed_recipients, screening.reason),)
    if match.case_id is None:
        return Decision("triage", kind, f"{screening.verdict} with no case: {screening.reason}", effects=effects)
    facts = match.facts
    if facts is not None and facts.constituent_email in screening.failed_recipients:
        # Only the constituent's address: a notice about a caseworker's failing address would go to
        # that same address and bounce again.
        effects += (Notify("Mail to the constituent bounced", _lines(screening.reason)),)
    return Decision("case", kind, f"{screening.verdict}: {screening.reason}", case_id=match.case_id,
                    effects=effects)


def _triage(kind: str, reason: str, match: CaseMatch) -> Decision:
    return Decision("triage", kind, reason, triage_case_id=match.case_id, effects=(TellIntake(),))
