"""References other offices gave the cases that now live here: recorded when a case is imported, looked up
when mail quotes one.

A constituent and an agency keep writing with the reference they were given. Another office's check code
cannot be verified here (it is keyed by that office's secret), so an old reference threads only because it
is on this list: exactly as imported, in any of the forms a reference is written (hub.core.refs.token_key).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select

from hub.core.models import Case, ForwardedRef
from hub.core.refs import References, token_key

_CASES_OF = select(ForwardedRef.key, ForwardedRef.case_id).where(ForwardedRef.key.in_(bindparam("keys",
                                                                                                  expanding=True)))
_INSERT = insert(ForwardedRef)


def forwarded_cases(connection: Connection, keys: Sequence[str]) -> dict[str, int]:
    """{compact token: case id} for the tokens among `keys` that are forwarded to a case here."""
    if not keys:
        return {}
    return {key: case_id for key, case_id in connection.execute(_CASES_OF, {"keys": list(keys)})}


def forwarded_case(connection: Connection, old_ref: str) -> int | None:
    """The case `old_ref` is forwarded to here, if any."""
    return forwarded_cases(connection, [token_key(old_ref)]).get(token_key(old_ref))


def is_recordable(old_ref: str) -> bool:
    """True when `old_ref` has a compact form to be kept by (letters and digits, at most 64 of them)."""
    return 0 < len(token_key(old_ref)) <= 64


def unthreadable(refs: References, old_ref: str) -> str:
    """Why mail quoting `old_ref` will not reach its case here ("" when it will): it is, or will be, one of
    this office's own references, which are read as such (it is still kept, so a second import skips it)."""
    if refs.is_own_key(token_key(old_ref)):
        return f"{old_ref} is also a reference of this office (same prefix, and its check code verifies here)"
    return ""


def forward(connection: Connection, old_ref: str, case_id: int, origin: str, now: datetime) -> None:
    """Mail quoting `old_ref` goes to case `case_id` from now on (`is_recordable` said it may be kept)."""
    connection.execute(_INSERT, {"key": token_key(old_ref), "old_ref": old_ref[:200], "case_id": case_id,
                                 "origin": origin[:200], "created_at": now})


def keep_forwarded(connection: Connection, refs: References, old_ref: str, case: Case, origin: str, now: datetime,
                   note: Callable[[str], None]) -> None:
    """Forwards `old_ref` to the imported `case` unless it is already; `note` is told what will not thread."""
    if not is_recordable(old_ref):
        note(f"{case.ref}: {old_ref!r} has no letters or digits to be looked up by (or too many); not kept")
        return
    why = unthreadable(refs, old_ref) if old_ref != case.ref else ""  # the same words: it is the case's own
    if why:
        note(f"{case.ref}: mail quoting {old_ref} will not reach it: {why}")
    if forwarded_case(connection, old_ref) is None:
        forward(connection, old_ref, case.id, origin, now)
