"""`hub case ACTION REF …`: the caseworkers' mail commands from the command line, through the same code."""

from __future__ import annotations

from hub.cases.casework import Actor, CaseworkError
from hub.cases.letter_send import letters_of
from hub.cases.merge import merge
from hub.cases.views import find_case
from hub.core.app import Hub
from hub.intake.commands import REGISTRY, Command, Context, change_for

ACTIONS = ("assign", "agency", "label", "unlabel", "status", "close", "reopen", "note", "followup", "release",
           "address", "contact", "channel", "person")


def run_action(hub: Hub, ref: str, action: str, argument: str, actor: str = "cli") -> str:
    """Carry out one command on the case in its own transaction; returns the confirmation line."""
    if action not in ACTIONS or action not in REGISTRY:
        raise CaseworkError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    with hub.sessions.begin() as session:
        case = find_case(session, hub.refs, ref)
        context = Context(session, case, hub.config, hub.refs, letters_of(hub), Actor(actor, "cli"), hub.clock.now())
        return change_for(Command(action, argument.strip()), context)()


def run_merge(hub: Hub, merged_ref: str, kept_ref: str, force: bool = False, actor: str = "cli") -> str:
    """`hub case merge FROM INTO`: folds FROM into INTO in one transaction; returns the confirmation line."""
    with hub.sessions.begin() as session:
        merged, kept = find_case(session, hub.refs, merged_ref), find_case(session, hub.refs, kept_ref)
        return merge(session, merged, kept, Actor(actor, "cli"), hub.clock.now(), force)
