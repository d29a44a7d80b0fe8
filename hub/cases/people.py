"""The other people on a case: a spouse, a parent, a representative — authorised third parties.

`#person add NAME EMAIL|PHONE ROLE` (and `hub case person REF add …`) puts one on the case: their mail and texts
join it like the constituent's (hub.intake.thread), and letters can go to them (`--to person:NAME`). The name is
every word before the contact (the first word with an `@`, or starting with a digit, `+` or `(`), the role is
the last word and one of ROLES; anything else is refused with the expected form. Adding a known name again
gives them the other kind of contact, or a new role. Removing deletes the row: their mail no longer joins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.casework import Actor, CaseworkError, record
from hub.cases.contacts import constituent_channel, listed, normalised
from hub.core.config import Config
from hub.core.models import Case, CasePerson

ROLES = ("spouse", "partner", "parent", "child", "relative", "caregiver", "guardian", "representative", "attorney",
         "other")
PREFIX = "person:"  # `--to person:NAME`, `#to person:NAME`
FORM = (f"expected `#person add NAME EMAIL|PHONE ROLE` (ROLE one of {', '.join(ROLES)}) or "
        "`#person remove NAME`")


@dataclass(frozen=True)
class Request:
    """`#person add …` or `#person remove NAME`, read and checked before anything changes."""

    verb: str  # add | remove
    name: str
    kind: str = ""  # email | phone
    value: str = ""  # normalised (hub.cases.contacts.normalised)
    role: str = ""


def requested(argument: str) -> Request:
    """What `add NAME CONTACT ROLE` or `remove NAME` asks for; CaseworkError with the expected form."""
    verb, _, rest = argument.strip().partition(" ")
    if verb.lower() == "remove" and rest.strip():
        return Request("remove", " ".join(rest.split()))
    words = rest.split()
    at = next((index for index, word in enumerate(words) if _is_contact_like(word)), None)
    if verb.lower() != "add" or at is None or at == 0 or len(words) - at < 2 or words[-1].lower() not in ROLES:
        raise CaseworkError(f"#person {' '.join(argument.split())}: {FORM}")
    kind, value = normalised(" ".join(words[at:-1]))
    return Request("add", " ".join(words[:at])[:200], kind, value, words[-1].lower())


def change_people(session: Session, case: Case, request: Request, config: Config, actor: Actor,
                  now: datetime) -> str:
    """Carries the request out; returns the confirmation line."""
    if request.verb == "remove":
        return remove_person(session, case, request.name, actor, now)
    return add_person(session, case, request, config, actor, now)


def add_person(session: Session, case: Case, request: Request, config: Config, actor: Actor, now: datetime) -> str:
    name, kind, value, role = request.name, request.kind, request.value, request.role
    problem = _whose(session, case, value, config, name)
    if problem:
        raise CaseworkError(f"#person add {name}: {value} {problem}")
    person = _named(session, case, name)
    if person is None:
        person = CasePerson(case_id=case.id, name=name, role=role, created_at=now)
        session.add(person)
    elif getattr(person, kind) == value and person.role == role:
        return f"{person.name} ({role}) is already on the case with {kind} {value}"
    elif getattr(person, kind) not in (None, value):
        raise CaseworkError(f"#person add {name}: {person.name} already has {kind} {getattr(person, kind)}; "
                            f"#person remove {person.name} first")
    setattr(person, kind, value)
    person.role = role
    record(session, case, actor, "person-added", f"{person.name} ({role}), {kind} {value}", now)
    return f"{person.name} ({role}) is on the case: {kind} {value}; their mail joins it"


def remove_person(session: Session, case: Case, name: str, actor: Actor, now: datetime) -> str:
    person = person_named(session, case, name)
    session.delete(person)
    contacts = ", ".join(value for value in (person.email, person.phone) if value)
    record(session, case, actor, "person-removed", f"{person.name} ({person.role}), {contacts}", now)
    return f"{person.name} ({person.role}) removed from the case; their mail no longer joins it"


def people_of(session: Session, case_id: int) -> list[CasePerson]:
    return list(session.scalars(select(CasePerson).where(CasePerson.case_id == case_id).order_by(CasePerson.id)))


def person_named(session: Session, case: Case, name: str) -> CasePerson:
    """The case's person of that name (any case); CaseworkError listing the case's people otherwise."""
    person = _named(session, case, name)
    if person is None:
        names = ", ".join(f"{p.name} ({p.role})" for p in people_of(session, case.id)) or "none"
        raise CaseworkError(f"{case.ref} has no person named {' '.join(name.split())!r} (its people: {names})")
    return person


def person_channel(person: CasePerson, text_version: bool = True) -> tuple[str, str]:
    """(channel, recipient) of a letter to the person: by email when they have an address, else by text."""
    reached = constituent_channel(person.email, person.phone, "email", text_version)
    if reached is None:
        raise CaseworkError(f"{person.name} has only a phone number and this letter has no text version")
    return reached


def _named(session: Session, case: Case, name: str) -> CasePerson | None:
    wanted = " ".join(name.split()).casefold()
    return next((person for person in people_of(session, case.id) if person.name.casefold() == wanted), None)


def _whose(session: Session, case: Case, value: str, config: Config, name: str) -> str:
    """Why the contact cannot be a person's on this case, or "": the office's own people and agencies
    write with their own standing, and the constituent's contacts are theirs."""
    if config.staff_member(value) or value in (config.office.address.lower(), config.office.intake_address.lower()):
        return "is the office's own; staff are never people on a case"
    if config.sms is not None and value == config.sms.number:
        return "is the office's own number"
    if "@" in value and any(agency.has_domain(value.rsplit("@", 1)[1]) for agency in config.agencies):
        return "is an agency's address"
    if case.constituent is not None and value in listed(session, case.constituent):
        return "is the constituent's own contact (#contact)"
    wanted = " ".join(name.split()).casefold()
    other = next((p for p in people_of(session, case.id) if value in (p.email, p.phone)
                  and p.name.casefold() != wanted), None)
    return f"is already {other.name}'s" if other else ""


def _is_contact_like(word: str) -> bool:
    return "@" in word or word[:1].isdigit() or word[:1] in "+("
