"""The hub's notice, between its markers, never counts as what a caseworker wrote now: quoted, pasted or
half-lost, and whatever the reply parser makes of the rest."""

from __future__ import annotations

import pytest

from hub.intake.parse.reply_text import new_text, written_now
from hub.letters.notice_marks import marked, without_notices

NOTICE = marked("New case\n\nCase:         CW-26-00042-K7\nStatus:       new\n\n----- Message -----\n"
                "From:     Pat Example <pat@example.com>\nDate:     November 23, 2026, 9:12 a.m.\n\n"
                "My card is misspelled.\n----- End of message -----\n\nHow to answer:\n- Reply to this email\n\n"
                "Our reference: CW-26-00042-K7. Please keep it in the subject line when you reply.", "CW-26-00042-K7")


def quoted(text: str, mark: str = "> ") -> str:
    return "\n".join(f"{mark}{line}".rstrip() for line in text.splitlines())


@pytest.mark.parametrize(("reply", "expected"), [
    pytest.param(f"\n\n{NOTICE}", "", id="pasted alone"),
    pytest.param(f"Thanks, we are on it.\n\n{NOTICE}", "Thanks, we are on it.", id="pasted below text"),
    pytest.param(f"Thanks.\n\n{quoted(NOTICE)}", "Thanks.", id="quoted"),
    pytest.param(f"Thanks.\n\n{quoted(quoted(NOTICE), '> ')}", "Thanks.", id="quoted twice"),
    pytest.param(f"Thanks.\n\n{NOTICE.replace('-----', '*-----', 1)}", "Thanks.", id="starred by markup"),
    pytest.param(f"Thanks.\n\n{NOTICE.replace(' ', chr(0xa0))}", "Thanks.", id="no-break spaces from HTML"),
    pytest.param(f"Thanks.\n\n{NOTICE.rsplit(chr(10), 3)[0]}", "Thanks.", id="end marker lost"),
    pytest.param(f"{quoted(NOTICE)}\n\nThanks, below the quote.", "Thanks, below the quote.", id="bottom-posted"),
])
def test_the_notice_is_never_written_now(reply: str, expected: str) -> None:
    assert written_now(without_notices(reply)) == expected


def test_text_without_markers_is_untouched() -> None:
    text = "----- Message -----\nCase: mine\n-----  casework notice -----"
    assert without_notices(text) is text


def test_a_reply_that_is_only_a_quote_has_nothing_new_but_is_kept_whole_for_storing() -> None:
    only_quote = "On Mon, Nov 23, 2026 at 9:11 AM Office <casework@doe.example.gov> wrote:\n> Thanks for writing."
    assert written_now(only_quote) == ""
    assert new_text(only_quote) == only_quote
    outlook = ("\n\n________________________________\nFrom: Office <casework@doe.example.gov>\n"
               "Sent: Monday, November 23, 2026 9:11 AM\nTo: Maria <maria@doe.example.gov>\nSubject: Re: x\n\nOld")
    assert written_now(outlook) == "", "the rule Outlook draws above its header is not new text"
