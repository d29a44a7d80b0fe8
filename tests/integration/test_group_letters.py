"""`hub notify`: one letter to every open case of an agency, narrowed by label and status, on SQLite and
PostgreSQL.

What these tests prove:
- `--dry-run` counts the group and shows the letter filled in for its first case, and queues nothing.
- A run queues the letter once on each case of the group (open, of the agency, with the label and the
  status asked for) and on no other case (another agency, closed, merged into another), each recorded on its
  case; the letters are spaced `[limits] group_letters_per_minute` apart; the office's words (`--text`) are in
  every letter.
- Running the same command again queues nothing more (a run cut short is finished by running it again).
- A wrong agency, status or letter, or an agency letter, is one line and exit 1, with nothing queued.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub.cli.case_actions import run_action
from hub.cli.main import main
from hub.core.app import Hub
from hub.core.models import Case, Event, Outbox
from tests.helpers import email, feed

pytestmark = pytest.mark.integration
LETTER = "agency-delay"
WORDS = "Social Security has closed its offices during the shutdown."


def opened(hub: Hub, sender: str, subject: str, *actions: tuple[str, str]) -> str:
    outcome = feed(hub, email(sender=sender, subject=subject))
    assert outcome.fate == "new-case" and outcome.case_ref
    for verb, argument in actions:
        run_action(hub, outcome.case_ref, verb, argument)
    return outcome.case_ref


def merge(hub: Hub, merged: str, kept: str) -> None:
    assert main(["--config", str(hub.config.path), "case", "merge", merged, kept]) == 0


@pytest.fixture
def group(cli_office: Hub) -> dict[str, str]:
    hub = cli_office
    return {
        "pension": opened(hub, "Pat Example <pat@example.com>", "Pension", ("agency", "ssa"), ("label", "shutdown")),
        "disability": opened(hub, "Ann Old <ann@example.com>", "Disability", ("agency", "ssa"),
                             ("status", "pending-agency")),
        "medicare": opened(hub, "Kim Lee <kim@example.com>", "Medicare card", ("agency", "ssa"), ("label", "shutdown"),
                           ("status", "pending-agency")),
        "closed": opened(hub, "Dee Done <dee@example.com>", "Closed one", ("agency", "ssa"), ("close", "resolved")),
        "passport": opened(hub, "Lee Example <lee@example.com>", "Passport", ("agency", "state")),
        "merged": opened(hub, "Pat Example <pat@example.com>", "Pension again", ("agency", "ssa"),
                         ("label", "shutdown")),
    }


def notify(hub: Hub, capsys: pytest.CaptureFixture[str], *words: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["--config", str(hub.config.path), "notify", *words])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def queued(hub: Hub) -> dict[str, tuple[str, object]]:
    with hub.sessions() as session:
        rows = session.execute(select(Case.ref, Outbox.body, Outbox.not_before).join(Case, Outbox.case_id == Case.id)
                               .where(Outbox.letter == LETTER).order_by(Outbox.id))
        return {ref: (body, not_before) for ref, body, not_before in rows}


def test_a_dry_run_counts_the_group_shows_one_letter_and_queues_nothing(cli_office: Hub, group: dict[str, str],
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    hub = cli_office
    merge(hub, group["merged"], group["pension"])
    status, out, err = notify(hub, capsys, "--agency", "ssa", "--letter", LETTER, "--text", WORDS, "--dry-run")
    assert status == 0, err
    assert out.startswith("3 case(s): the open cases of ssa\n"), out
    assert f"({group['pension']}, the first)" in out and WORDS.split()[0] in out
    assert "Social Security Administration" in out and "dry run: nothing queued" in out
    assert queued(hub) == {}


def test_the_letter_goes_once_to_each_case_of_the_group_spaced_out(cli_office: Hub, group: dict[str, str],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    hub = cli_office
    merge(hub, group["merged"], group["pension"])
    status, out, err = notify(hub, capsys, "--agency", "ssa", "--label", "shutdown", "--letter", LETTER,
                              "--text", WORDS)
    assert status == 0, err
    assert "queued agency-delay on 2 case(s), 30 a minute" in out, out
    letters = queued(hub)
    assert list(letters) == [group["pension"], group["medicare"]]
    assert all(" ".join(WORDS.split()[:4]) in " ".join(str(body).split()) for body, _ in letters.values())
    first, second = (moment for _, moment in letters.values())
    assert second - first == timedelta(seconds=2)  # type: ignore[operator]
    with hub.sessions() as session:
        noted = session.scalars(select(Case.ref).join(Event, Event.case_id == Case.id)
                                .where(Event.kind == "group-letter").order_by(Case.id)).all()
        assert noted == [group["pension"], group["medicare"]]

    status, out, err = notify(hub, capsys, "--agency", "ssa", "--letter", LETTER, "--status", "pending-agency")
    assert status == 0, err
    assert "queued agency-delay on 1 case(s)" in out and \
        "left out 1 case(s): this letter is already waiting or sent" in out, out
    assert list(queued(hub)) == [group["pension"], group["medicare"], group["disability"]]

    status, out, _ = notify(hub, capsys, "--agency", "ssa", "--letter", LETTER)
    assert "queued agency-delay on 0 case(s)" in out and "left out 3 case(s)" in out, out
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Outbox).where(Outbox.letter == LETTER)) == 3


@pytest.mark.parametrize(("words", "expected"), [
    (("--agency", "nasa", "--letter", LETTER), "--agency nasa: no such agency in agencies.toml"),
    (("--agency", "ssa", "--status", "closed", "--letter", LETTER), "--status closed: expected one of new, open"),
    (("--agency", "ssa", "--letter", "no-such-letter"), "--letter no-such-letter: no such letter"),
    (("--agency", "ssa", "--letter", "agency-inquiry"), "--letter agency-inquiry goes to the agency"),
])
def test_a_wrong_group_or_letter_is_one_line_and_queues_nothing(cli_office: Hub, group: dict[str, str],
                                                                capsys: pytest.CaptureFixture[str],
                                                                words: tuple[str, ...], expected: str) -> None:
    status, out, err = notify(cli_office, capsys, *words)
    assert status == 1 and out == ""
    assert err.startswith(f"hub: {expected}") and err.count("\n") == 1, err
    assert queued(cli_office) == {}


def test_a_group_with_no_case_says_so(cli_office: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = notify(cli_office, capsys, "--agency", "ssa", "--letter", LETTER)
    assert status == 0 and out == "no case matches (the open cases of ssa): nothing queued\n"
