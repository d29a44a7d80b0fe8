"""The states a letter's template branches on, so that a check renders every branch, not only those the
sample case takes: each context field an `{% if %}` (or `x if y else z`) tests, flipped one at a time —
a filled-in field made empty, an empty one filled in."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import nodes

SAMPLE_TEXT = "Sample"


def branch_fields(tree: nodes.Template, contract: Mapping[str, tuple[str, ...] | None]) -> list[tuple[str, ...]]:
    """The context fields the template's conditions read, as (group, field) or (name,), in order."""
    found: dict[tuple[str, ...], None] = {}
    for condition in _conditions(tree):
        for node in [condition, *condition.find_all((nodes.Getattr, nodes.Name))]:
            if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
                fields = contract.get(node.node.name)
                if fields is not None and node.attr in fields:
                    found[(node.node.name, node.attr)] = None
            elif isinstance(node, nodes.Name) and node.name in contract and contract[node.name] is None:
                found[(node.name,)] = None
    return list(found)


def flipped_contexts(context: Mapping[str, Any], fields: list[tuple[str, ...]]) -> Iterator[dict[str, Any]]:
    """The context with each field's truth flipped, one field at a time (a list left empty stays so: its
    items' shape is the sample's to give)."""
    for path in fields:
        value = _get(context, path)
        other = _flip(value)
        if other is not value:
            changed = copy.deepcopy(dict(context))
            _set(changed, path, other)
            yield changed


def _conditions(tree: nodes.Template) -> Iterator[nodes.Node]:
    for node in tree.find_all((nodes.If, nodes.CondExpr)):
        test = getattr(node, "test", None)
        if isinstance(test, nodes.Node):
            yield test


def _flip(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return 0 if value else 1
    if isinstance(value, str):
        return "" if value else SAMPLE_TEXT
    if isinstance(value, list) and value:
        return []
    return value


def _get(context: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = context
    for key in path:
        value = value[key]
    return value


def _set(context: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = context
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
