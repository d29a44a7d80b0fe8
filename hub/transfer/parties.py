"""The constituent of an imported case: the person already known here by the same address (or number, when
there is no address), with what the import knows filled in where the hub had nothing; else a new party."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.core.models import Party, PartyContact


def constituent_for(session: Session, name: str, email: str | None, phone: str | None, address: str | None,
                    zip_code: str | None, contacts: Iterable[tuple[str, str]], now: datetime) -> Party:
    """`contacts`: further (kind, value) pairs, kept in party_contacts."""
    key = Party.email == email if email else Party.phone == phone if phone else None
    party = session.scalar(select(Party).where(Party.role == "constituent", key).order_by(Party.id).limit(1)) \
        if key is not None else None
    if party is None:
        party = Party(role="constituent", name=name, email=email, phone=phone, postal_address=address,
                      zip_code=zip_code, created_at=now)
        session.add(party)
        session.flush()
    else:
        for field, value in (("name", name), ("email", email), ("phone", phone), ("postal_address", address),
                             ("zip_code", zip_code)):
            if value and not getattr(party, field):
                setattr(party, field, value)
    known = {party.email, party.phone, *session.scalars(select(PartyContact.value)
                                                        .where(PartyContact.party_id == party.id))}
    for kind, value in contacts:
        if value and value not in known:
            session.add(PartyContact(party_id=party.id, kind=kind, value=value, created_at=now))
            known.add(value)
    return party
