"""Staff mail that asks for a list rather than acting on a case: `#mycases`, `#cases overdue` or
`#search TEXT` on its first line, with no case reference. The list goes back by mail to that staff
member alone, and only when the office's mail system vouched for the sender (the same test as commands
on a case, hub.intake.staff); anything else stays in triage, as staff mail with no reference does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from hub.cases.search import search
from hub.cases.views import CaseFilter, list_cases
from hub.core.config import Config
from hub.core.errors import UserError
from hub.core.refs import References
from hub.intake.message import InboundMessage
from hub.intake.staff import authentication_problem
from hub.letters.context import office_context
from hub.letters.outbox import AUTO_GENERATED, enqueue
from hub.letters.templates import Letters

CASE_LIST = "case-list"
# Lines in one answer: a longer list says how many more there are.
LIMIT = 50


@dataclass(frozen=True)
class ListRequest:
    """The effect: answer the sender with the list `command` names."""

    command: str  # "mycases" | "cases overdue" | "search"
    text: str = ""  # what to search for


def list_request(message: InboundMessage, config: Config) -> ListRequest | None:
    """The list the first line of an authenticated staff message asks for, if it asks for one."""
    text = "" if message.nothing_new else message.new_text
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    word, _, rest = first.partition(" ")
    request = {"#mycases": ListRequest("mycases") if not rest.strip() else None,
               "#cases": ListRequest("cases overdue") if rest.strip().lower() == "overdue" else None,
               "#search": ListRequest("search", rest.strip())}.get(word.lower())
    if request is None or authentication_problem(message, config):
        return None
    return request


def answer(connection: Connection, request: ListRequest, message: InboundMessage, config: Config,
           refs: References, letters: Letters, now: datetime) -> str:
    """Queue the list for the sender; returns what was answered, for the message's reason."""
    session = Session(bind=connection)
    if request.command == "search":
        try:
            found = search(session, request.text)
        except UserError as error:
            title, lines = f"Search for {request.text!r}", [str(error).split(": ", 1)[-1]]
        else:
            title = f"Search for {request.text!r}: {len(found.hits)}{'+' if found.more else ''} found"
            lines = [f"{hit.ref or '(triage)'}  {hit.status}  {hit.at:%Y-%m-%d}  {hit.match}: {hit.snippet}"
                     for hit in found.hits]
    else:
        mine = request.command == "mycases"
        wanted = CaseFilter(assignee=message.sender, still_open=True) if mine else CaseFilter(overdue=True,
                                                                                              still_open=True)
        cases = list_cases(session, wanted, now)
        title = f"{'Your open cases' if mine else 'Overdue cases'}: {len(cases)}"
        lines = [_case_line(case) for case in cases[:LIMIT]]
        if len(cases) > LIMIT:
            lines.append(f"… and {len(cases) - LIMIT} more (hub cases lists them all)")
    # Rendered now: a letter on no case has no case to be filled in from when it goes.
    letter = letters.render(CASE_LIST, office_context(config, now, {"notice": title,
                                                                    "text": "\n".join(lines) or "(none)"}))
    enqueue(connection, case_id=None, case_ref=None, letter=CASE_LIST, recipient=message.sender, refs=refs,
            domain=config.office.domain, now=now, in_reply_to=message.message_id, automatic=AUTO_GENERATED,
            subject=letter.subject, body=letter.body)
    return f"answered #{request.command}"


def _case_line(case: dict[str, Any]) -> str:
    who = case["constituent"]["name"] or case["constituent"]["email"] or case["constituent"]["phone"] or ""
    return f"{case['ref']}  {case['status']:<19}  {who}: {case['subject'][:60]}"
