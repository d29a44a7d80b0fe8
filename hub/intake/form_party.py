"""A web form's person on the case: their constituent party found by the form's email (else its phone),
made when missing, and filled in from the form; a privacy release signed on the form recorded on the case.

Runs inside apply's transaction. What the form gives fills only what the party lacks, except the postal
address and ZIP, where the newest form is the constituent's own word on where they live now: neither
the email nor the phone a case is reached by changes behind the caseworker's back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from hub.cases.casework import Actor, release_received
from hub.core.config import Config
from hub.core.models import Case, Party
from hub.intake.message import InboundMessage, Submission

_COLUMNS = (Party.id, Party.name, Party.email, Party.phone, Party.postal_address, Party.zip_code)
_BY_EMAIL = (select(*_COLUMNS).where(Party.role == "constituent", Party.email == bindparam("email"))
             .order_by(Party.id).limit(1))
_BY_PHONE = (select(*_COLUMNS).where(Party.role == "constituent", Party.phone == bindparam("phone"))
             .order_by(Party.id).limit(1))
_BY_ID = select(*_COLUMNS).where(Party.id == bindparam("party_id"))
_INSERT = insert(Party).returning(Party.id)
FILLED = {"name": "name", "email": "email", "phone": "phone", "postal_address": "postal address",
          "zip_code": "ZIP"}


def form_constituent(connection: Connection, form: Submission, now: datetime) -> tuple[int, str | None, str | None,
                                                                                       list[str]]:
    """(party id, email, phone) of the form's person, and what the form changed on an existing party."""
    row = (connection.execute(_BY_EMAIL, {"email": form.email}) if form.email else
           connection.execute(_BY_PHONE, {"phone": form.phone})).first()
    if row is None:
        party_id = connection.execute(_INSERT, dict(
            role="constituent", name=form.name, email=form.email or None, phone=form.phone or None,
            postal_address=form.postal_address or None, zip_code=form.zip_code or None, created_at=now)).scalar_one()
        return party_id, form.email or None, form.phone or None, []
    changed = _fill_in(connection, row, form)
    return row.id, row.email or form.email or None, row.phone or form.phone or None, changed


def fill_in(connection: Connection, party_id: int | None, form: Submission) -> list[str]:
    """What the form changed on the party (for the case history)."""
    row = connection.execute(_BY_ID, {"party_id": party_id}).first() if party_id is not None else None
    return _fill_in(connection, row, form) if row is not None else []


def _fill_in(connection: Connection, row: Any, form: Submission) -> list[str]:
    """`row` is one of _COLUMNS' rows."""
    values: dict[str, str] = {}
    for column, given in (("name", form.name), ("email", form.email), ("phone", form.phone)):
        if given and not getattr(row, column):
            values[column] = given
    for column, given in (("postal_address", form.postal_address), ("zip_code", form.zip_code)):
        if given and given != getattr(row, column):
            values[column] = given
    if values:
        connection.execute(update(Party).where(Party.id == row.id).values(**values))
    return [FILLED[column] for column in values]


def record_release(connection: Connection, case_id: int, message: InboundMessage, row_id: int, signature: str,
                   config: Config, now: datetime) -> None:
    """The form's release, signed the day the form was sent (the office's date), with the submission as evidence."""
    zone = ZoneInfo(config.office.timezone)
    today = now.astimezone(zone).date()
    signed_on = min((message.date or now).astimezone(zone).date(), today)
    session = Session(bind=connection)
    release_received(session, session.get_one(Case, case_id), signed_on, Actor("hub", "rule", row_id), now,
                     method="web form", today=today, message_id=row_id, signed_by=signature)
    session.flush()
