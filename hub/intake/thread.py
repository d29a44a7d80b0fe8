"""Which case does this message belong to?

In order: its references (plus-address, our Message-IDs in In-Reply-To/References, the body, the
subject), then In-Reply-To/References against any Message-ID stored on a case, then — for mail from an
agency — the agency's own control number stored on a case from its first reply.

Every reference-shaped token in the message is judged together, so that no list of guesses can thread
it: a token with the long code only our own mail carries decides; failing that, the people's references
(two-character check code) must all verify and name one case. A message with a token that fails, or
with references to two cases, is held for a caseworker with the reason, and so is, for a day, every
message threaded by people's references from a sender whose references failed three times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Connection, Row, Select, String, bindparam, func, or_, select

from hub.cases.contacts import constituent_channel
from hub.cases.forwarding import forwarded_cases
from hub.core.models import Case, CasePerson, Message, Outbox, Party, PartyContact
from hub.core.refs import Candidate, Reference, References, token_key, token_keys
from hub.intake.message import InboundMessage


@dataclass(frozen=True)
class CaseFacts:
    """What routing needs to know about the matched case."""

    case_id: int
    ref: str
    constituent_email: str | None
    agency: str | None
    constituent_id: int | None = None
    assignee: str | None = None
    agency_control: str | None = None
    constituent_phone: str | None = None
    contact_channel: str = "email"
    status: str = "new"
    closed_at: datetime | None = None
    constituent_name: str | None = None
    merged_into_id: int | None = None  # a merged case's facts are followed to the case it went into
    constituent_zip: str | None = None  # the ZIP on file before this message (hub.core.district)
    listed_sender: str | None = None  # the sender, when it is one of the constituent's further contacts
    person: str = ""  # "NAME (ROLE)" when the sender is one of the case's other people (hub.cases.people)

    def constituent_is(self, sender: str) -> bool:
        return sender in (self.constituent_email, self.constituent_phone) or sender == self.listed_sender

    def may_write(self, sender: str) -> bool:
        """The constituent, or a person on the case: their mail joins it without a caseworker's look."""
        return self.constituent_is(sender) or bool(self.person)

    def contact(self) -> tuple[str, str | None]:
        """(channel, recipient) for letters to the constituent (hub.cases.contacts.constituent_channel). An
        opted-out number is still named: delivery then records why the text did not go."""
        return constituent_channel(self.constituent_email, self.constituent_phone, self.contact_channel) or \
            ("email", None)


@dataclass(frozen=True)
class CaseMatch:
    facts: CaseFacts | None
    # plus-address | message-id | body | subject | forwarded | in-reply-to | control-number | phone | none
    via: str = "none"
    others: tuple[str, ...] = ()  # by phone: the references of the sender's other open cases
    refused: str = ""  # why the message's references may not thread it (it goes to triage)
    triage_item: int | None = None  # staff mail answering the notice of this held message (hub.intake.triage_reply)

    @property
    def case_id(self) -> int | None:
        return self.facts.case_id if self.facts else None


NO_CASE = CaseMatch(None)
# The nearest ids are looked up, In-Reply-To first, then References from the newest: a thread's last
# hundred messages place a reply, and a message listing a million ids cannot make one statement too big.
MAX_THREAD_IDS = 100
# The reason that marks a message whose references failed, and how many of those a sender may send in a
# day before their messages threaded by people's references are held too: a guess a message, slowly.
REFERENCE_FAILED = "reference check failed"
FAILURES_ALLOWED = 3
FAILURE_WINDOW = timedelta(days=1)
MAX_NAMED = 3
MAX_MERGE_STEPS = 5

# Built once and run on the transaction's connection: intake is the hot path of a large import, and
# the ORM's per-statement overhead is several times the lookup itself.
_FACTS = (
    select(Case.id, Case.ref, Party.email, Case.agency, Case.constituent_id, Case.assignee, Case.agency_control,
           Party.phone, Case.contact_channel, Case.status, Case.closed_at, Party.name,
           Case.merged_into_id, Party.zip_code)
    .outerjoin(Party, Party.id == Case.constituent_id))
_FACTS_BY_REF = _FACTS.where(Case.ref == bindparam("ref"))
_FACTS_BY_ID = _FACTS.where(Case.id == bindparam("case_id"))
_FACTS_BY_CONTROL = (_FACTS.where(Case.agency == bindparam("agency"), Case.agency_control == bindparam("number"))
                     .order_by(Case.id.desc()).limit(1))
_FACTS_BY_PHONE = (_FACTS.where(Party.phone == bindparam("phone"), Party.role == "constituent",
                               Case.status != "closed")
                   .order_by(Case.updated_at.desc(), Case.id.desc()).limit(20))
# A number or address among the constituent's further contacts (hub.cases.contacts), by its index.
_FACTS_BY_LISTED_PHONE = (_FACTS.join(PartyContact, PartyContact.party_id == Case.constituent_id)
                          .where(PartyContact.value == bindparam("phone"), Case.status != "closed")
                          .order_by(Case.updated_at.desc(), Case.id.desc()).limit(20))
# A number of one of a case's other people (hub.cases.people).
_FACTS_BY_PERSON_PHONE = (_FACTS.join(CasePerson, CasePerson.case_id == Case.id)
                          .where(CasePerson.phone == bindparam("phone"), Case.status != "closed")
                          .order_by(Case.updated_at.desc(), Case.id.desc()).limit(20))
# The cases whose constituent's own number or address on file is the sender (a STATUS request): the open
# ones, most recent first, else the last closed one.
_OWN_CASES = (_FACTS.where(or_(Party.phone == bindparam("sender"), Party.email == bindparam("sender")),
                           Party.role == "constituent", Case.merged_into_id.is_(None))
              .order_by((Case.status == "closed").asc(), Case.updated_at.desc(), Case.id.desc())
              .limit(bindparam("limit")))


def _sender_columns(party_id: ColumnElement[Any], case_id: ColumnElement[Any],
                    sender: ColumnElement[Any] | None = None) -> list[ColumnElement[Any]]:
    """Whether the sender (the parameter `sender` unless given) is among the further contacts of the constituent
    `party_id` (`listed`), and else which of the case `case_id`'s people (`person_name`, `person_role`): asked of
    every message not from the constituent's own address."""
    sender = bindparam("sender") if sender is None else sender
    listed = select(PartyContact.id).where(PartyContact.value == sender, PartyContact.party_id == party_id).exists()
    person = (select(CasePerson.name).where(CasePerson.case_id == case_id,
                                            or_(CasePerson.email == sender, CasePerson.phone == sender))
              .order_by(CasePerson.id).limit(1))
    return [listed.label("listed"), person.scalar_subquery().label("person_name"),
            person.with_only_columns(CasePerson.role).scalar_subquery().label("person_role")]


_SENDER = select(*_sender_columns(bindparam("party_id"), bindparam("case_id")))
# A reference's case with, in the same statement, what `find_case` asks of a sender who is not its constituent
# (_SENDER): most messages on a case are threaded by a reference, and each statement is a round trip to PostgreSQL.
_FACTS_AND_SENDER_BY_REF = _FACTS_BY_REF.add_columns(*_sender_columns(Case.__table__.c.constituent_id,
                                                                     Case.__table__.c.id))
_FACTS_COLUMNS = len(_FACTS.selected_columns)
# The same for many (reference, sender) pairs at once (PostgreSQL), each row with its pair (`wanted_ref`,
# `wanted_sender`) after the columns of `_FACTS_AND_SENDER_BY_REF`.
_WANTED = (func.unnest(bindparam("refs", type_=ARRAY(String)), bindparam("senders", type_=ARRAY(String)))
           .table_valued("ref", "sender").render_derived(name="wanted"))
_FACTS_AND_SENDERS: Select[Any] = (
    select(*_FACTS.selected_columns,
           *_sender_columns(Case.__table__.c.constituent_id, Case.__table__.c.id, _WANTED.c.sender),
           _WANTED.c.ref.label("wanted_ref"), _WANTED.c.sender.label("wanted_sender"))
    .select_from(_WANTED).join(Case, Case.ref == _WANTED.c.ref).outerjoin(Party, Party.id == Case.constituent_id))
_KNOWN_IDS = tuple(
    select(table.message_id, table.case_id).where(table.message_id.in_(bindparam("ids", expanding=True)),
                                                  table.case_id.is_not(None))
    for table in (Message, Outbox))


# {(reference, sender): the row `_FACTS_AND_SENDER_BY_REF` gives them, None for no case}, read beforehand for a
# batch (hub.intake.known_facts); a pair not in it is asked of the database.
Known = Mapping[tuple[str, str], Row[Any] | None]


def find_case(connection: Connection, message: InboundMessage, refs: References,
              extra_ids: Iterable[str] = (), agency_number: tuple[str, str] | None = None,
              now: datetime | None = None, known: Known | None = None) -> CaseMatch:
    """`agency_number` is (agency key, control number) when the sender is an agency whose number was found.
    The case's facts say whether the sender is one of its constituent's further contacts, or one of its people.
    `known`, when given, holds the rows of references already read (`Known`)."""
    match, sender = _find_case(connection, message, refs, extra_ids, agency_number, now, {} if known is None else known)
    facts = match.facts
    if facts is None or facts.constituent_is(message.sender):
        return match
    if sender is None or sender.id != facts.case_id:
        sender = connection.execute(_SENDER, {"sender": message.sender, "party_id": facts.constituent_id,
                                              "case_id": facts.case_id}).one()
    if sender.listed:
        return replace(match, facts=replace(facts, listed_sender=message.sender))
    if sender.person_role is None:
        return match
    return replace(match, facts=replace(facts, person=f"{sender.person_name} ({sender.person_role})"))


def _find_case(connection: Connection, message: InboundMessage, refs: References, extra_ids: Iterable[str],
               agency_number: tuple[str, str] | None, now: datetime | None,
               known: Known) -> tuple[CaseMatch, Row[Any] | None]:
    """The case, and what the sender is to the case of the message's reference when it was asked with it
    (`_FACTS_AND_SENDER_BY_REF`: its columns `id`, `listed`, `person_name`, `person_role`)."""
    message_ids = _message_ids(message, extra_ids)
    found = _candidates(message, refs, message_ids)
    forwarded = _forwarded(connection, refs, message, message_ids)
    # Another office's reference with our prefix fails our check code: on the list, it is not a forgery.
    found = [(where, c) for where, c in found if token_key(c.written) not in forwarded]
    reference, via, keyed, refused = judge(found)
    if refused:
        return CaseMatch(None, "refused", refused=refused), None
    if reference is not None and not keyed and now is not None:
        failures = connection.execute(_FAILURES, {"sender": message.sender, "since": now - FAILURE_WINDOW}).scalar()
        if failures and failures >= FAILURES_ALLOWED:
            return CaseMatch(None, "refused", refused=f"{REFERENCE_FAILED} on {failures} messages from this "
                                                      "sender in the last day, so its references are not trusted "
                                                      "for now"), None
    facts, sender = _facts_and_sender(connection, reference, message.sender, known) if reference is not None \
        else (None, None)
    if forwarded:
        return _with_forwarded(connection, facts, via, forwarded), sender
    if facts is not None:
        return CaseMatch(facts, via), sender
    if message_ids:
        case_id = _case_of_known_message(connection, message_ids)
        if case_id is not None:
            return CaseMatch(facts_of_case(connection, case_id), "in-reply-to"), None
    if agency_number is not None:
        row = connection.execute(_FACTS_BY_CONTROL, {"agency": agency_number[0], "number": agency_number[1]}).first()
        if row is not None:
            return CaseMatch(_kept(connection, _facts(row)), "control-number"), None
    if message.channel == "sms":
        rows = (connection.execute(_FACTS_BY_PHONE, {"phone": message.sender}).all() or
                connection.execute(_FACTS_BY_LISTED_PHONE, {"phone": message.sender}).all() or
                connection.execute(_FACTS_BY_PERSON_PHONE, {"phone": message.sender}).all())
        if rows:
            return CaseMatch(_facts(rows[0]), "phone", tuple(row.ref for row in rows[1:])), None
    return NO_CASE, None


def _message_ids(message: InboundMessage, extra_ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*message.thread_ids, *extra_ids)))[:MAX_THREAD_IDS]


def _candidates(message: InboundMessage, refs: References,
                message_ids: tuple[str, ...]) -> list[tuple[str, Candidate]]:
    """Every reference-shaped token of the message, with where it was found, in the order `judge` weighs them."""
    found = [("plus-address", c) for c in map(refs.candidate_in_address, message.recipients) if c is not None]
    found += [("message-id", c) for c in refs.candidates_in_message_ids(message_ids)]
    found += [("body", c) for c in refs.candidates_in_text(message.text)]
    found += [("subject", c) for c in refs.candidates_in_text(message.subject)]
    return found


def references_in(message: InboundMessage, refs: References, extra_ids: Iterable[str] = ()) -> set[str]:
    """Every verified reference of the message: whichever of them `find_case` threads it by, if any, is among
    these (what a batch reads beforehand, hub.intake.known_facts)."""
    return {str(c.reference) for _, c in _candidates(message, refs, _message_ids(message, extra_ids))
            if c.reference is not None}


def own_cases(connection: Connection, message: InboundMessage, limit: int) -> CaseMatch:
    """The sender's cases as their constituent, by the number or address on file alone (not a further contact,
    not one of a case's other people): the most recent open one with up to `limit` - 1 others, else the last
    closed one, else none."""
    rows = connection.execute(_OWN_CASES, {"sender": message.sender, "limit": limit}).all()
    if not rows:
        return NO_CASE
    open_refs = tuple(row.ref for row in rows[1:] if row.status != "closed")
    return CaseMatch(_facts(rows[0]), "constituent", open_refs)


def _forwarded(connection: Connection, refs: References, message: InboundMessage,
               message_ids: tuple[str, ...]) -> dict[str, int]:
    """{token: case} for the message's references that other offices gave cases imported here
    (hub.cases.forwarding); our own verified references are not looked up."""
    keys = token_keys((message.subject, message.text), message.recipients, message_ids)
    return forwarded_cases(connection, [key for key in keys if not refs.is_own_key(key)])


def _with_forwarded(connection: Connection, facts: CaseFacts | None, via: str,
                    forwarded: dict[str, int]) -> CaseMatch:
    """The one case the message's forwarded references (and our own reference, `facts`, if any) name."""
    cases = {facts_of_case(connection, case_id).case_id: case_id for case_id in dict.fromkeys(forwarded.values())}
    named = set(cases) | ({facts.case_id} if facts else set())
    if len(named) > 1:
        return CaseMatch(None, "refused", refused=f"references to {len(named)} different cases "
                                                  f"({_named(sorted(forwarded))}, forwarded from another office)")
    if facts is not None:
        return CaseMatch(facts, via)
    return CaseMatch(facts_of_case(connection, next(iter(cases.values()))), "forwarded")


_FAILURES = (select(func.count()).select_from(Message)
             .where(Message.sender == bindparam("sender"), Message.received_at >= bindparam("since"),
                    Message.disposition == "triage", Message.reason.startswith(REFERENCE_FAILED)))


def judge(found: list[tuple[str, Candidate]]) -> tuple[Reference | None, str, bool, str]:
    """(reference, where it was found, whether by a long code, why none may be used) for all the reference
    tokens of one message, each with where it was found."""
    forged = [c.written for _, c in found if c.keyed and not c.verified]
    if forged:
        return None, "", True, f"{REFERENCE_FAILED}: a case token that does not verify ({_named(forged)})"
    keyed = _first_places([(where, c) for where, c in found if c.keyed])
    if len(keyed) > 1:
        return None, "", True, f"case tokens of {len(keyed)} different cases ({_named([str(r) for r in keyed])})"
    if keyed:
        [(reference, where)] = keyed.items()
        return reference, where, True, ""
    failed = [c.written for _, c in found if not c.verified]
    if failed:
        return None, "", False, f"{REFERENCE_FAILED}: {_named(failed)} does not verify"
    people = _first_places(found)
    if len(people) > 1:
        return None, "", False, f"references to {len(people)} different cases ({_named([str(r) for r in people])})"
    if people:
        [(reference, where)] = people.items()
        return reference, where, False, ""
    return None, "none", False, ""


def _first_places(found: list[tuple[str, Candidate]]) -> dict[Reference, str]:
    """Each verified reference with the first place it was found, in the order of `found`."""
    places: dict[Reference, str] = {}
    for where, candidate in found:
        if candidate.reference is not None:
            places.setdefault(candidate.reference, where)
    return places


def _named(items: list[str]) -> str:
    unique = list(dict.fromkeys(" ".join(item.split())[:80] for item in items))
    more = f" and {len(unique) - MAX_NAMED} more" if len(unique) > MAX_NAMED else ""
    return ", ".join(unique[:MAX_NAMED]) + more


def _case_of_known_message(connection: Connection, message_ids: tuple[str, ...]) -> int | None:
    known: dict[str, int] = {}
    for query in _KNOWN_IDS:
        for message_id, case_id in connection.execute(query, {"ids": list(message_ids)}):
            if message_id is not None and case_id is not None:
                known.setdefault(message_id, case_id)
    # Nearest first: In-Reply-To, then References from the newest.
    return next((known[m] for m in message_ids if m in known), None)


def facts_of_reference(connection: Connection, reference: Reference) -> CaseFacts | None:
    row = connection.execute(_FACTS_BY_REF, {"ref": str(reference)}).first()
    return _kept(connection, _facts(row)) if row is not None else None


def _facts_and_sender(connection: Connection, reference: Reference, sender: str,
                      known: Known) -> tuple[CaseFacts | None, Row[Any] | None]:
    """`facts_of_reference`, with what `sender` is to the case (`_FACTS_AND_SENDER_BY_REF`) in the same statement,
    unless `known` has them."""
    key = (str(reference), sender)
    row = known[key] if key in known else \
        connection.execute(_FACTS_AND_SENDER_BY_REF, {"ref": key[0], "sender": sender}).first()
    if row is None:
        return None, None
    return _kept(connection, _facts(row[:_FACTS_COLUMNS])), row


def facts_and_senders(connection: Connection,
                      pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Row[Any] | None]:
    """`Known` for the (reference, sender) pairs, in one statement (PostgreSQL)."""
    rows: dict[tuple[str, str], Row[Any] | None] = dict.fromkeys(pairs)
    if pairs:
        found = connection.execute(_FACTS_AND_SENDERS, {"refs": [ref for ref, _ in pairs],
                                                        "senders": [sender for _, sender in pairs]})
        rows.update(((row.wanted_ref, row.wanted_sender), row) for row in found)
    return rows


def facts_of_case(connection: Connection, case_id: int) -> CaseFacts:
    return _kept(connection, _facts(connection.execute(_FACTS_BY_ID, {"case_id": case_id}).one()))


def _kept(connection: Connection, facts: CaseFacts) -> CaseFacts:
    """The case a merged case went into (a merge repoints earlier merges, so one step is enough; the bound
    only guards against a loop written by hand)."""
    for _ in range(MAX_MERGE_STEPS):
        if facts.merged_into_id is None:
            break
        facts = _facts(connection.execute(_FACTS_BY_ID, {"case_id": facts.merged_into_id}).one())
    return facts


def _facts(row: Sequence[Any]) -> CaseFacts:
    return CaseFacts(*row)


