"""References other offices gave the cases that now live here: recorded when a case is imported, looked up
when mail quotes one.

A constituent and an agency keep writing with the reference they were given. Another office's check code
cannot be verified here (it is keyed by that office's secret), so an old reference threads only because it
is on this list: exactly as imported, in any of the forms a reference is written (hub.core.refs.token_key).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select

from hub.core.models import ForwardedRef
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


def unforwardable(refs: References, old_ref: str) -> str:
    """Why `old_ref` cannot be forwarded here ("" when it can): it is, or will be, one of this office's own."""
    key = token_key(old_ref)
    if not key or len(key) > 64:
        return f"{old_ref!r} is not a reference"
    if refs.is_own_key(key):
        return f"{old_ref} is also a reference of this office (same prefix, and its check code verifies here)"
    return ""


def forward(connection: Connection, old_ref: str, case_id: int, origin: str, now: datetime) -> None:
    """Mail quoting `old_ref` goes to case `case_id` from now on (`unforwardable` said it may)."""
    connection.execute(_INSERT, {"key": token_key(old_ref), "old_ref": old_ref[:200], "case_id": case_id,
                                 "origin": origin[:200], "created_at": now})
