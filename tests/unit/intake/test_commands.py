"""Caseworker commands are lines at the top of the new text; the rest is the message."""

from __future__ import annotations

from hub.intake.commands import Command, parse_commands


def test_commands_at_the_top_are_read_and_the_rest_is_the_text() -> None:
    block = parse_commands("\n#to agency\n#NOTE  \n\nPlease expedite.\n#to constituent stays text")
    assert block.commands == (Command("to", "agency"), Command("note", ""))
    assert block.text == "Please expedite.\n#to constituent stays text"
    assert block.errors == ()


def test_a_line_that_only_looks_like_a_hash_is_text() -> None:
    block = parse_commands("#1 priority for this family\nThanks")
    assert block.commands == () and block.text.startswith("#1 priority")


def test_an_unknown_command_is_an_error_naming_it() -> None:
    block = parse_commands("#assing maria\nHello")
    assert block.errors == ("#assing: unknown command (#help lists them)",)
    assert block.text == "Hello"


def test_an_empty_message_has_nothing() -> None:
    assert parse_commands("") == parse_commands("   \n ")
    assert parse_commands("").text == ""
