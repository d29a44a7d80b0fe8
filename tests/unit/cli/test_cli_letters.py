"""`hub letter …`: every packaged letter filled in for a demo case, queued letters, the office's own letters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.cli.main import main

PACKAGED = ["acknowledgement", "agency-delay", "agency-followup", "agency-inquiry", "case-closed", "case-list",
            "case-status", "caseworker-digest", "caseworker-notification", "command-reply", "constituent-checkin",
            "constituent-update", "followup-invitation", "followup-reminder", "privacy-release-request",
            "satisfaction-survey"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """A demo office after one cycle: (config path, the reference of Pat Rivera's case)."""
    assert main(["init", "--demo", str(tmp_path / "demo")]) == 0
    config = str(tmp_path / "demo" / "config" / "hub.toml")
    assert main(["--config", config, "run", "--once"]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, "--config", config, "cases", "--json")
    [pat] = [case for case in json.loads(out) if case["constituent"]["name"] == "Pat Rivera"]
    return config, pat["ref"]


def test_the_packaged_letters_are_listed(demo: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", demo[0], "letter", "list")
    assert (code, out.split()) == (0, PACKAGED)
    letters_folder = Path(demo[0]).parents[1] / "letters"
    (letters_folder / "acknowledgement.email.j2").write_text("Subject: Thank you\n\nWe have your message.\n")
    code, out, _ = run(capsys, "--config", demo[0], "letter", "list", "--json")
    listed = {letter["name"]: letter for letter in json.loads(out)}
    assert code == 0 and sorted(listed) == sorted([*PACKAGED, "sms-help"])
    assert listed["sms-help"]["channels"] == ["sms"], "a letter by text alone is listed too"
    assert listed["acknowledgement"] == {"name": "acknowledgement", "channels": ["email", "sms"],
                                         "office": ["email"]}, "the office's own copy is said"
    assert listed["agency-inquiry"] == {"name": "agency-inquiry", "channels": ["email"], "office": []}
    code, out, _ = run(capsys, "--config", demo[0], "letter", "check")
    assert (code, out) == (0, "every letter fills in\n")


@pytest.mark.parametrize("name", PACKAGED)
def test_each_packaged_letter_fills_in_for_a_demo_case(demo: tuple[str, str], capsys: pytest.CaptureFixture[str],
                                                       name: str) -> None:
    config, ref = demo
    to = ["--to", "liaison@ssa.gov"] if name.startswith("agency-") else []
    code, out, err = run(capsys, "--config", config, "letter", "preview", name, "--case", ref, *to)
    assert code == 0, err
    head, body = out.split("\n\n", 1)
    lines = head.splitlines()
    assert lines[0] == ("To: liaison@ssa.gov" if to else "To: pat.rivera@example.com")
    assert lines[1].startswith("Subject: ") and len(lines[1]) > len("Subject: ") + 5
    assert "None" not in out and "{{" not in out and "{%" not in out
    assert "Jane Doe" in body or "Casework Team" in body, "signed for the office"
    if name not in ("caseworker-notification", "case-list", "caseworker-digest") and not name.startswith("agency-"):
        assert "Pat" in body, "the constituent is addressed by name"


def test_preview_without_a_case_uses_a_sample(demo: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--config", demo[0], "letter", "preview", "acknowledgement")
    assert code == 0 and "Subject: " in out


def test_send_queues_once_and_the_next_cycle_delivers(demo: tuple[str, str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config, ref = demo
    code, _, err = run(capsys, "--config", config, "letter", "send", "agency-inquiry", "--case", ref)
    assert code == 1 and err.count("\n") == 1, err
    assert "agency ssa has no liaison address" in err, "the demo's agency answer made SSA the case's agency"
    code, _, err = run(capsys, "--config", config, "letter", "send", "agency-inquiry", "--case", ref,
                       "--to", "liaison@ssa.gov")
    assert code == 1 and "no signed privacy release is on file" in err
    code, out, _ = run(capsys, "--config", config, "case", "release", ref, "received", "2026-11-20")
    assert code == 0 and "privacy release on file" in out
    code, out, _ = run(capsys, "--config", config, "case", "show", ref, "--json")
    [release] = json.loads(out)["releases"]
    assert (release["signed_on"], release["recorded_by"], release["method"]) == ("2026-11-20", "cli", "scan")
    code, out, _ = run(capsys, "--config", config, "letter", "send", "agency-inquiry", "--case", ref,
                       "--to", "liaison@ssa.gov")
    assert code == 0 and out.startswith("queued agency-inquiry for liaison@ssa.gov")
    code, _, err = run(capsys, "--config", config, "letter", "send", "agency-inquiry", "--case", ref,
                       "--to", "liaison@ssa.gov")
    assert code == 1 and "already pending" in err and "--force" in err
    code, out, _ = run(capsys, "--config", config, "run", "--once")
    assert out.splitlines()[1] == "outbox: 1 sent"
    code, out, _ = run(capsys, "--config", config, "case", "show", ref, "--json")
    shown = json.loads(out)
    assert [m["kind"] for m in shown["messages"] if m["direction"] == "out"][-1] == "letter:agency-inquiry"


def test_an_office_letter_overrides_and_a_broken_one_stops_the_run(demo: tuple[str, str],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    config, ref = demo
    letters = Path(config).parent.parent / "letters"
    (letters / "case-closed.email.j2").write_text(
        "Subject: All done\n\nDear {{ constituent.first_name }},\n\nYour case is closed.\n\n{{ office.member }}\n")
    code, out, _ = run(capsys, "--config", config, "letter", "preview", "case-closed", "--case", ref)
    assert code == 0 and "Subject: All done" in out and "Dear Pat," in out
    (letters / "case-closed.email.j2").write_text("Subject: All done\n\nDear {{ constituent.frist_name }},\n")
    code, out, err = run(capsys, "--config", config, "run", "--once")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "case-closed.email.j2" in err and "constituent.frist_name" in err
    code, _, err = run(capsys, "--config", config, "letter", "check")
    assert code == 1 and "constituent.frist_name" in err


def test_letter_mistakes_are_one_line(demo: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    config, ref = demo
    for args in (["letter", "preview", "no-such-letter", "--case", ref],
                 ["letter", "preview", "acknowledgement", "--case", "CW-26-99999-XX"],
                 ["letter", "send", "acknowledgement", "--case", ref, "--to", "not an address"],
                 ["letter", "show", "../../etc/passwd"]):
        code, out, err = run(capsys, "--config", config, *args)
        assert code != 0 and err.count("\n") == 1 and "Traceback" not in err, args
