"""The command line: the DESIGN contract, and one readable line for every user mistake."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from hub import __version__
from hub.cli.main import build_parser, main
from tests.helpers import email


@pytest.fixture
def office(tmp_path: Path) -> Path:
    assert main(["init", str(tmp_path / "office")]) == 0
    return tmp_path / "office" / "config" / "hub.toml"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_office_runs_once_and_prints_the_cases_it_made(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "init", "--demo", str(tmp_path / "demo"))
    assert code == 0
    config = str(tmp_path / "demo" / "config" / "hub.toml")
    code, out, err = run(capsys, "--config", config, "run", "--once")
    assert code == 0, err
    assert out.splitlines()[:2] == ["5 messages: 2 new-case, 3 case", "outbox: 6 sent"]
    assert "Pat Rivera" in out and "Lucía Gómez" in out
    assert len(list((tmp_path / "demo" / "var" / "inbox" / ".Processed" / "cur").iterdir())) == 5
    assert not list((tmp_path / "demo" / "var" / "inbox" / "new").iterdir())
    sent = [message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in (tmp_path / "demo" / "var" / "sent" / "new").iterdir()]
    acknowledgements = sorted(str(m["To"]) for m in sent if m["Auto-Submitted"] == "auto-replied")
    assert len(acknowledgements) == 2 and all("@" in to for to in acknowledgements)
    assert len(sent) == 6, "two acknowledgements and four notices to the caseworker"
    code, out, _ = run(capsys, "--config", config, "run", "--once")
    assert out.splitlines() == ["0 messages: nothing new", "outbox: nothing due"]


def test_ingest_then_json_contract(office: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(email(sender="Pat Example <pat@example.com>", body="My benefits letter never arrived."))
    code, out, _ = run(capsys, "--config", str(office), "ingest", str(eml))
    assert code == 0 and out.startswith("1 messages: 1 new-case")
    code, out, _ = run(capsys, "--config", str(office), "cases", "--json")
    [case] = json.loads(out)
    assert {"ref", "status", "labels", "assignee", "agency", "constituent"} <= set(case)
    code, out, _ = run(capsys, "--config", str(office), "case", "show", case["ref"].lower(), "--json")
    shown = json.loads(out)
    assert shown["constituent"] == {"name": "Pat Example", "email": "pat@example.com", "phone": None,
                                   "address": None, "zip": None, "in_district": None}
    [message] = shown["messages"]
    assert {k: message[k] for k in ("direction", "channel", "kind", "sender")} == {
        "direction": "in", "channel": "email", "kind": "constituent", "sender": "pat@example.com"}
    assert "benefits letter" in message["body"] and message["at"].endswith("+00:00")
    assert [e["kind"] for e in shown["events"]] == ["case-opened", "message-received"]
    assert shown["outbox"][0]["letter"] == "acknowledgement"


def test_case_show_reads_in_the_office_time_and_lists_the_files(office: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    message = message_from_bytes(email(sender="Pat Example <pat@example.com>"), policy=policy.default)
    message.add_attachment(b"%PDF-1.4 signed", maintype="application", subtype="pdf", filename="release.pdf")
    eml = tmp_path / "m.eml"
    eml.write_bytes(message.as_bytes())
    run(capsys, "--config", str(office), "ingest", str(eml))
    ref = json.loads(run(capsys, "--config", str(office), "cases", "--json")[1])[0]["ref"]
    code, out, _ = run(capsys, "--config", str(office), "case", "show", ref)
    assert code == 0
    assert "\n<- 2026-11-23 09:00  constituent  pat@example.com" in out, out  # 14:00 UTC, New York time
    assert "   file: release.pdf (application/pdf, 15 bytes)" in out, out
    assert "+00:00" not in out and "T14:00" not in out


def test_case_files_writes_out_every_file_of_the_case_privately(office: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    message = message_from_bytes(email(sender="Pat Example <pat@example.com>"), policy=policy.default)
    for data, name in ((b"%PDF-1.4 first", "release.pdf"), (b"%PDF-1.4 second", "release.pdf"),
                       (b"root:x:0:0", "../../etc/passwd"), (b"\x89PNG", "")):
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=name or None)
    eml = tmp_path / "m.eml"
    eml.write_bytes(message.as_bytes())
    run(capsys, "--config", str(office), "ingest", str(eml))
    ref = json.loads(run(capsys, "--config", str(office), "cases", "--json")[1])[0]["ref"]
    out_dir = tmp_path / "files" / "pat"
    code, out, err = run(capsys, "--config", str(office), "case", "files", ref, "--out", str(out_dir))
    assert code == 0, err
    written = sorted(path.name for path in out_dir.iterdir())
    assert len(written) == 4 and len(set(written)) == 4, written
    assert {path.read_bytes() for path in out_dir.iterdir()} == {b"%PDF-1.4 first", b"%PDF-1.4 second",
                                                                  b"root:x:0:0", b"\x89PNG"}
    assert not (tmp_path / "etc").exists() and all("/" not in name and not name.startswith(".") for name in written)
    assert {path.stat().st_mode & 0o777 for path in out_dir.iterdir()} == {0o600}
    assert out_dir.stat().st_mode & 0o777 == 0o700
    assert out.count("\n") == 4 and f"{out_dir}/" in out
    code, out, _ = run(capsys, "--config", str(office), "case", "files", ref)
    assert code == 0 and "release.pdf" in out and "15 bytes" in out, "without --out: the list"


def test_ingest_reads_mbox_archives(office: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = tmp_path / "old.mbox"
    parts = [email(sender=f"p{n}@example.com", message_id=f"<m{n}@example.com>") for n in range(3)]
    archive.write_bytes(b"".join(b"From sender@example.com Mon Nov 23 10:00:00 2026\n" + p.replace(b"\r\n", b"\n")
                                 + b"\n" for p in parts))
    code, out, _ = run(capsys, "--config", str(office), "ingest", str(archive))
    assert (code, out.splitlines()[0]) == (0, "3 messages: 3 new-case")
    code, out, _ = run(capsys, "--config", str(office), "ingest", str(archive))
    assert out.splitlines()[0] == "3 messages: 3 duplicate"


def test_an_archive_import_files_the_mail_and_sends_nothing(office: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "old.eml"
    old.write_bytes(email(sender="Pat Example <pat@example.com>", message_id="<old@example.com>"))
    new = tmp_path / "new.eml"
    new.write_bytes(email(sender="Lee Example <lee@example.com>", message_id="<new@example.com>"))
    assert run(capsys, "--config", str(office), "ingest", "--archive", str(old))[1].startswith("1 messages: 1 new-case")
    assert run(capsys, "--config", str(office), "ingest", str(new))[1].startswith("1 messages: 1 new-case")
    code, out, _ = run(capsys, "--config", str(office), "cases", "--json")
    queued = {case["constituent"]["email"]: len(json.loads(run(capsys, "--config", str(office), "case", "show",
                                                                case["ref"], "--json")[1])["outbox"])
              for case in json.loads(out)}
    assert queued == {"pat@example.com": 0, "lee@example.com": 2}, "the archive's case has no acknowledgement"


def test_triage_lists_held_messages_with_the_case_they_mention(office: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    first = tmp_path / "first.eml"
    first.write_bytes(email(sender="pat@example.com", subject="My pension"))
    run(capsys, "--config", str(office), "ingest", str(first))
    ref = json.loads(run(capsys, "--config", str(office), "cases", "--json")[1])[0]["ref"]
    forwarded = tmp_path / "fwd.eml"
    forwarded.write_bytes(email(sender="neighbour@example.org", subject=f"Fwd: [{ref}] My pension"))
    code, out, _ = run(capsys, "--config", str(office), "ingest", str(forwarded))
    assert out.startswith("1 messages: 1 triage")
    code, out, _ = run(capsys, "--config", str(office), "triage", "list", "--json")
    [held] = json.loads(out)
    assert (held["candidate_case"], held["sender"], held["kind"]) == (ref, "neighbour@example.org", "constituent")
    assert "not a party" in held["reason"]
    code, out, _ = run(capsys, "--config", str(office), "triage", "list")
    assert f"(mentions {ref})" in out


def test_a_large_import_lists_only_the_first_new_cases(office: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    files = []
    for n in range(30):
        files.append(tmp_path / f"{n}.eml")
        files[-1].write_bytes(email(sender=f"p{n}@example.com", message_id=f"<bulk{n}@example.com>"))
    code, out, _ = run(capsys, "--config", str(office), "ingest", *map(str, files))
    lines = out.splitlines()
    assert lines[0] == "30 messages: 30 new-case" and lines[1] == "new cases:"
    assert len(lines) == 2 + 25 + 1 and lines[-1] == "… and 5 more (hub cases --status new)"


def test_quarantine_list_retry_discard(office: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.eml"
    bad.write_bytes(b"\x00\x00")
    code, out, _ = run(capsys, "--config", str(office), "ingest", str(bad))
    assert out.startswith("1 messages: 1 quarantine")
    code, out, _ = run(capsys, "--config", str(office), "quarantine", "list")
    assert out.split()[0] == "1" and "bad.eml" in out
    code, out, _ = run(capsys, "--config", str(office), "quarantine", "list", "--json")
    [item] = json.loads(out)
    assert (item["id"], item["state"], item["channel"], item["size"]) == (1, "held", "email", 2)
    assert item["source"].endswith("bad.eml") and item["reason"] and item["whole_message_at"] is None
    assert datetime.fromisoformat(item["created_at"]).tzinfo is not None
    code, _, err = run(capsys, "--config", str(office), "quarantine", "retry", "1")
    assert code == 1 and err.startswith("hub: quarantine item 1 failed again")
    assert run(capsys, "--config", str(office), "quarantine", "discard", "1")[0] == 0
    code, out, _ = run(capsys, "--config", str(office), "quarantine", "list")
    assert out.strip() == "quarantine is empty"
    assert json.loads(run(capsys, "--config", str(office), "quarantine", "list", "--json")[1]) == []
    code, _, err = run(capsys, "--config", str(office), "quarantine", "discard", "1")
    assert (code, err.strip()) == (1, "hub: quarantine item 1 is already discarded")


@pytest.mark.parametrize("args, message", [
    (["case", "show", "CW-26-00001-AA"], "hub: no case 'CW-26-00001-AA'"),
    (["case", "show", "nonsense"], "hub: no case 'nonsense' (not a valid reference)"),
    (["ingest", "/no/such.eml"], "hub: no such file: /no/such.eml"),
    (["quarantine", "retry", "99"], "hub: no quarantine item 99"),
    (["quarantine", "retry", "x"], "hub: argument id: invalid int value"),
    (["run", "--once", "--at", "yesterday"], "hub: argument --at: not an ISO 8601 time"),
    (["frobnicate"], "hub: argument COMMAND: invalid choice"),
])
def test_user_mistakes_are_one_line_without_traceback(office: Path, capsys: pytest.CaptureFixture[str],
                                                      args: list[str], message: str) -> None:
    try:
        code = main(["--config", str(office), *args])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    _, err = capsys.readouterr()
    assert code != 0
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_missing_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", str(tmp_path / "none.toml"), "cases")
    assert code == 1 and "no such configuration file" in err and err.count("\n") == 1


@pytest.mark.parametrize("file, old, new, message", [
    ("hub.toml", "[outbound]\n", "[outbond]\n", "[outbond]: unknown section, did you mean [outbound]?"),
    ("agencies.toml", "business_days = false", "busines_days = false",
     "[agencies.ssa] busines_days: unknown key, did you mean business_days?"),
    ("agencies.toml", "[agencies.", None, "no agency directory beside hub.toml"),
])
def test_configuration_mistakes_stop_every_command_with_one_line(office: Path, capsys: pytest.CaptureFixture[str],
                                                                 file: str, old: str, new: str | None,
                                                                 message: str) -> None:
    path = office.parent / file
    text = path.read_text()
    assert old in text
    if new is None:
        path.unlink()
    else:
        path.write_text(text.replace(old, new, 1))
    for command in (["cases"], ["run", "--once"]):
        code, _, err = run(capsys, "--config", str(office), *command)
        assert code == 1 and err.startswith(f"hub: {path}: {message}") and err.count("\n") == 1, err


def test_unreachable_database_is_one_line(office: Path, capsys: pytest.CaptureFixture[str]) -> None:
    office.write_text(office.read_text().replace('url = "sqlite:///var/hub.db"',
                                                 'url = "postgresql+psycopg://nobody@127.0.0.1:1/none"'))
    code, _, err = run(capsys, "--config", str(office), "cases")
    assert code == 1 and err.startswith("hub: database postgresql+psycopg://nobody@127.0.0.1:1/none: cannot connect")
    assert err.count("\n") == 1


WITHOUT_PSYCOPG = "import sys\nsys.modules['psycopg'] = None  # `import psycopg` raises ImportError, as uninstalled\n"
MISSING_DRIVER = ("hub: [database] url is PostgreSQL, whose driver is not installed: "
                  "pip install 'casework-hub[postgresql]'\n")


def without_psycopg(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m hub ARGS` in an install where psycopg cannot be imported (`pip install casework-hub`)."""
    site = tmp_path / "without-psycopg"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(WITHOUT_PSYCOPG)
    return subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.getcwd()])})


@pytest.mark.parametrize("command", [["cases"], ["run", "--once"], ["db", "status"], ["db", "upgrade"],
                                     ["backup", "backup.tar.gz"]])
def test_a_postgresql_office_without_the_driver_says_which_extra_to_install(office: Path, tmp_path: Path,
                                                                          command: list[str]) -> None:
    office.write_text(office.read_text().replace('url = "sqlite:///var/hub.db"',
                                                 'url = "postgresql+psycopg://hub@127.0.0.1:1/hub"'))
    result = without_psycopg(tmp_path, "--config", str(office), *[str(tmp_path / word) if word.endswith(".gz")
                                                                    else word for word in command])
    assert (result.returncode, result.stderr) == (1, MISSING_DRIVER)


def test_check_says_the_postgresql_driver_is_missing_on_its_database_line(office: Path, tmp_path: Path) -> None:
    office.write_text(office.read_text().replace('url = "sqlite:///var/hub.db"',
                                                 'url = "postgresql+psycopg://hub@127.0.0.1:1/hub"'))
    result = without_psycopg(tmp_path, "--config", str(office), "check")
    lines = result.stdout.splitlines()
    assert (result.returncode, result.stderr, len(lines)) == (1, "", 4)
    assert lines[0] == "database: FAILED: " + MISSING_DRIVER.removeprefix("hub: ").strip()
    assert lines[1].startswith("inbox: ok")


def test_a_postgresql_url_without_a_driver_named_says_which_to_name(office: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    office.write_text(office.read_text().replace('url = "sqlite:///var/hub.db"',
                                                 'url = "postgresql+psycopg2://hub@127.0.0.1:1/hub"'))
    code, _, err = run(capsys, "--config", str(office), "cases")
    assert (code, err) == (1, "hub: [database] url names the driver psycopg2, which is not installed: "
                              "write postgresql+psycopg://…\n")


def test_a_database_url_sqlalchemy_cannot_load_is_one_line(office: Path, capsys: pytest.CaptureFixture[str]) -> None:
    office.write_text(office.read_text().replace('url = "sqlite:///var/hub.db"',
                                                 'url = "postgresql+nosuch://hub:secret@127.0.0.1:1/hub"'))
    code, _, err = run(capsys, "--config", str(office), "cases")
    assert (code, err) == (1, "hub: [database] url postgresql+nosuch://hub@127.0.0.1:1/hub: no such database or "
                              "driver: write sqlite:///FILE or postgresql+psycopg://…\n")


def test_a_sqlite_office_needs_no_postgresql_driver(office: Path, tmp_path: Path) -> None:
    result = without_psycopg(tmp_path, "--config", str(office), "cases")
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "no cases", "")


def test_the_installed_command_runs_as_a_module(office: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hub", "--config", str(office), "cases"],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout.strip()) == (0, "no cases")


def test_config_is_accepted_after_the_command_too(office: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(email(sender="Pat Example <pat@example.com>", body="My benefits letter never arrived."))
    assert run(capsys, "ingest", str(eml), "--config", str(office))[0] == 0
    code, out, err = run(capsys, "cases", "--json", "--config", str(office))
    [case] = json.loads(out)
    code, out, err = run(capsys, "case", "show", case["ref"], "--config", str(office), "--json")
    assert (code, json.loads(out)["ref"]) == (0, case["ref"])
    code, out, err = run(capsys, "--config", str(office), "triage", "list", "--json")
    assert (code, json.loads(out)) == (0, []), "before the command, as always"
    code, _, err = run(capsys, "--config", str(tmp_path / "nowhere.toml"), "cases", "--config", str(office))
    assert (code, err) == (0, ""), "the one nearer the end wins"


@pytest.mark.parametrize("name", ["hub", "casework-hub"])
def test_both_installed_command_names_say_their_version(name: str) -> None:
    installed = Path(sys.executable).parent / name  # the venv's own scripts, as pip installed them
    result = subprocess.run([str(installed), "--version"], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout.strip()) == (0, f"casework-hub {__version__}")


def test_init_ends_with_the_next_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "init", str(tmp_path / "office"))
    config = tmp_path / "office" / "config"
    assert code == 0 and out.splitlines()[0] == f"made {config / 'hub.toml'}"
    steps = out.split("next steps:", 1)[1]
    for step in (f"edit {config / 'hub.toml'}", f"edit {config / 'agencies.toml'}", "HUB_INBOX_PASSWORD",
                 "HUB_SMTP_PASSWORD", f"hub --config {config / 'hub.toml'} check",
                 f"hub --config {config / 'hub.toml'} letter check", f"hub --config {config / 'hub.toml'} run --once"):
        assert step in steps, step
    assert steps.index(" check") < steps.index("letter check") < steps.index("run --once")


def test_check_passes_on_a_new_office_and_a_database_that_is_down_fails_alone(
        office: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--config", str(office), "check")
    assert (code, err) == (0, "")
    assert [line.split(": ", 2)[:2] for line in out.splitlines()] == [
        ["database", "ok"], ["inbox", "ok"], ["outbound", "ok"], ["sms", "ok"]]
    office.write_text(office.read_text().replace('url = "sqlite:///var/hub.db"',
                                                 'url = "postgresql+psycopg://hub@127.0.0.1:1/none"'))
    code, out, err = run(capsys, "--config", str(office), "check")
    lines = out.splitlines()
    assert code == 1 and err == "" and len(lines) == 4
    assert lines[0].startswith("database: FAILED: OperationalError: ") and lines[1].startswith("inbox: ok")


def leaf_commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    commands = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not commands:
        yield words, parser
    for action in commands:
        for name, command in action.choices.items():
            yield from leaf_commands(command, (*words, name))


def test_every_command_s_help_describes_each_of_its_arguments() -> None:
    undescribed = [" ".join((*words, action.dest)) for words, command in leaf_commands(build_parser())
                   for action in command._actions if not action.help]
    assert undescribed == []
    unsaid = [" ".join(words) for words, command in leaf_commands(build_parser()) if not command.description]
    assert unsaid == [], "each command's --help opens with what it does"
    assert len(list(leaf_commands(build_parser()))) > 40
