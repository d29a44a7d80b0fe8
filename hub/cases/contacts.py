"""A constituent's email addresses and phone numbers, and the channel letters reach them by.

The party row holds one of each kind, the one letters go to; `party_contacts` holds the others. Every one
threads their mail and texts onto their cases. Adding fills the party's own slot when it is empty;
removing the party's own promotes the oldest other of that kind, and a constituent keeps at least one.
`constituent_channel` is the one place that decides how a letter to the constituent goes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.cases.casework import Actor, CaseworkError, record
from hub.cases.sms_optout import opted_out
from hub.core.config_table import ADDRESS
from hub.core.models import Case, CasePerson, Party, PartyContact
from hub.core.phones import normalise as normalise_phone

KINDS = ("email", "phone")
CHANNELS = {"email": "email", "sms": "phone"}  # a channel and the kind of contact it needs


def constituent_channel(email: str | None, phone: str | None, contact_channel: str,
                        text_version: bool = True) -> tuple[str, str] | None:
    """(channel, recipient) of a letter to the constituent: by text when the case talks by text (or there
    is no email) and the letter has a text version, else by email; None when neither reaches them."""
    if phone and (contact_channel == "sms" or not email) and text_version:
        return "sms", phone
    return ("email", email) if email else None


def normalised(value: str, kind: str | None = None) -> tuple[str, str]:
    """(kind, value) written the one way the hub stores it; CaseworkError when it is neither."""
    value = " ".join(value.split())
    if kind in (None, "email") and ADDRESS.match(value):
        return "email", value.lower()
    if kind in (None, "phone") and "@" not in value and (number := normalise_phone(value)):
        return "phone", number
    expected = {"email": "an email address", "phone": "a phone number"}.get(kind or "", "an email address or a "
                                                                                      "phone number")
    raise CaseworkError(f"{value!r} is not {expected}")


def add_contact(session: Session, case: Case, argument: str, actor: Actor, now: datetime) -> str:
    """`[email|phone] VALUE`: one more way the constituent writes, and is written to when it is their first."""
    party = _constituent(case)
    words = argument.split(maxsplit=1)
    kind = words[0].lower() if words and words[0].lower() in KINDS else None
    kind, value = normalised((words[1] if len(words) > 1 else "") if kind else argument, kind)
    if value in listed(session, party):
        return f"{value} is already a contact of the constituent"
    person = session.scalar(select(CasePerson.name).where(CasePerson.case_id == case.id,
                                                          getattr(CasePerson, kind) == value))
    if person is not None:  # mail from it would be filed as whose?
        raise CaseworkError(f"{value} is {person}'s, a person on the case: not the constituent's too "
                            f"(#person remove {person} first)")
    if getattr(party, kind) is None:
        setattr(party, kind, value)
    else:
        session.add(PartyContact(party_id=party.id, kind=kind, value=value, created_at=now))
    record(session, case, actor, "contact-added", f"{kind} {value}", now)
    return f"{kind} {value} added"


def remove_contact(session: Session, case: Case, argument: str, actor: Actor, now: datetime) -> str:
    party = _constituent(case)
    kind, value = normalised(argument)
    if value not in listed(session, party):
        raise CaseworkError(f"{value} is not a contact of the constituent")
    if getattr(party, kind) == value:
        other = session.scalars(select(PartyContact).where(PartyContact.party_id == party.id, PartyContact.kind == kind)
                                .order_by(PartyContact.id).limit(1)).first()
        other_kind = "phone" if kind == "email" else "email"
        if other is None and getattr(party, other_kind) is None:
            raise CaseworkError(f"{value} is the constituent's only contact; add another first")
        setattr(party, kind, other.value if other else None)
        if other is not None:
            session.delete(other)
        if other is None and case.contact_channel == "sms" and kind == "phone":
            case.contact_channel = "email"
    else:
        session.execute(delete(PartyContact).where(PartyContact.party_id == party.id, PartyContact.value == value))
    record(session, case, actor, "contact-removed", f"{kind} {value}", now)
    return f"{kind} {value} removed"


def set_channel(session: Session, case: Case, channel: str, actor: Actor, now: datetime) -> str:
    """Letters to the constituent go by `channel` (email | sms) from now on."""
    party = _constituent(case)
    if channel not in CHANNELS:
        raise CaseworkError(f"#channel {channel}: expected email or sms")
    reached = getattr(party, CHANNELS[channel])
    if reached is None:
        raise CaseworkError(f"the constituent has no {CHANNELS[channel]} contact to reach them by {channel}")
    if channel == "sms" and (stopped := opted_out(session.connection(), reached)) is not None:
        raise CaseworkError(f"the constituent's number opted out of texts on {stopped[0]:%Y-%m-%d}")
    if case.contact_channel == channel:
        return f"letters already go by {channel}"
    case.contact_channel = channel
    record(session, case, actor, "channel", f"letters to the constituent go by {channel}", now)
    return f"letters to the constituent go by {channel}"


def _constituent(case: Case) -> Party:
    if case.constituent is None:
        raise CaseworkError("the case has no constituent")
    return case.constituent


def listed(session: Session, party: Party) -> set[str]:
    """Every address and number of the constituent's, normalised."""
    others = session.scalars(select(PartyContact.value).where(PartyContact.party_id == party.id))
    return {value for value in (party.email, party.phone, *others) if value}
