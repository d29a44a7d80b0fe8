"""The next case reference: a sequence number per reference year, kept in `counters`, made into a reference
with the office's check code. Intake numbers the cases it opens, an import the cases it brings in."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.exc import IntegrityError

from hub.core.models import Counter
from hub.core.refs import References

_INSERT_COUNTER = insert(Counter)
# Also for a caller that takes the next number in a statement it sends anyway (`counter`: `case_counter`).
NEXT_SEQUENCE = (update(Counter).where(Counter.name == bindparam("counter"))
                 .values(value=Counter.value + 1).returning(Counter.value))


def case_counter(year: int) -> str:
    return f"case-{year % 100:02d}"


def next_reference(connection: Connection, refs: References, year: int, taken: int | None = None) -> str:
    """A new reference of `year` (two digits or four), never given before. `taken`: the number the caller took
    with `NEXT_SEQUENCE`, None when it found no counter (then it is made here)."""
    year %= 100
    return str(refs.make(year, taken if taken is not None else next_sequence(connection, case_counter(year))))


def next_sequence(connection: Connection, name: str) -> int:
    # UPDATE … RETURNING takes the row lock first, so two writers can never get the same number.
    value = connection.execute(NEXT_SEQUENCE, {"counter": name}).scalar()
    if value is not None:
        return int(value)
    try:
        with connection.begin_nested():
            connection.execute(_INSERT_COUNTER, {"name": name, "value": 1})
        return 1
    except IntegrityError:
        return next_sequence(connection, name)
