"""The deployment file (hub.run.deployment): read as strictly as hub.toml, each mistake one line; and the split
of its offices between worker processes, stable from one process and machine to the next."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from hub.cli.main import main
from hub.core.errors import ConfigError, UserError
from hub.core.logs import OFFICE_THREAD as THREAD
from hub.core.logs import office_names_in_logs
from hub.run.deployment import Worker, load_deployment, worker_of


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deployment.toml"
    path.write_text(text)
    return path


def test_offices_are_read_in_order_with_their_configs_relative_to_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[[office]]\nname = "doe"\nconfig = "doe/config/hub.toml"\n\n'
                           '[[office]]\nname = "smith-2"\nconfig = "/srv/smith/config/hub.toml"\n')
    deployment = load_deployment(path)
    assert [(office.name, office.config) for office in deployment.offices] == [
        ("doe", (tmp_path / "doe/config/hub.toml").resolve()), ("smith-2", Path("/srv/smith/config/hub.toml"))]


@pytest.mark.parametrize(("text", "said"), [
    ('[[office]]\nname = "doe"\nconfg = "x.toml"\n', "[office #1] config: missing (is confg meant to be config?)"),
    ('[[office]]\nname = "doe"\nconfig = "x.toml"\nsecret = "s"\n', "[office #1] secret: unknown key"),
    ('[[offices]]\nname = "doe"\nconfig = "x.toml"\n', "[[offices]]: unknown section, did you mean [[office]]?"),
    ('[[office]]\nname = "doe"\nconfig = "a.toml"\n[[office]]\nname = "doe"\nconfig = "b.toml"\n',
     "[office #2] name: 'doe' is named twice"),
    ('[[office]]\nname = "doe"\nconfig = "a.toml"\n[[office]]\nname = "roe"\nconfig = "./a.toml"\n',
     "[office #2] config: ./a.toml is office 'doe''s too"),
    ('[[office]]\nname = "doe office"\nconfig = "a.toml"\n', "[office #1] name: 'doe office': letters, digits"),
    ('[[office]]\nname = 7\nconfig = "a.toml"\n', "[office #1] name: expected str, got int 7"),
    ('[[office]]\nname = "doe"\nconfig = ""\n', "[office #1] config: empty"),
    ("", "no [[office]]"),
    ("[[office]\n", "not valid TOML"),
])
def test_each_mistake_is_one_line_naming_the_file_and_the_key(tmp_path: Path, text: str, said: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_deployment(path)
    assert str(raised.value).startswith(f"{path}: ") and said in str(raised.value), str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_deployment(tmp_path / "nowhere.toml")


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2"])
def test_a_worker_is_k_of_n(text: str) -> None:
    with pytest.raises(UserError, match="expected K/N with 1 <= K <= N"):
        Worker.parse(text)


def test_the_split_is_a_stable_hash_of_the_name() -> None:
    # SHA-256 of the name: the same in every process, on every machine (Python's hash() is salted per process);
    # pinned, since a change of the hash would move offices to other workers at the next deploy.
    assert [worker_of(name, 4) for name in ("doe", "smith", "office-000", "office-001")] == [3, 3, 1, 2]
    assert worker_of("doe", 1) == 1
    names = [f"office-{number:03d}" for number in range(200)]
    for count in (2, 3, 4, 8):
        shares = [[name for name in names if Worker(k, count).runs(name)] for k in range(1, count + 1)]
        assert sorted(sum(shares, [])) == sorted(names), "every office runs in exactly one worker"
        assert min(map(len, shares)) > len(names) / count / 2, "no worker is left nearly idle"


@pytest.mark.parametrize(("argv", "said"), [
    (["--config", "x.toml", "run", "--deployment", "d.toml"], "--config names one office and --deployment many"),
    (["run", "--worker", "1/2"], "--worker goes with --deployment"),
    (["run", "--deployment", "d.toml", "--at", "2026-11-23T14:00:00+00:00"], "--at goes with --once"),
])
def test_the_command_line_refuses_what_does_not_go_together(argv: list[str], said: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    assert said in capsys.readouterr().err


def test_log_lines_in_an_offices_threads_start_with_its_name(caplog: pytest.LogCaptureFixture) -> None:
    def in_office() -> None:
        logging.getLogger("hub.test").warning("inbox: %s", "down")
    with caplog.at_level(logging.WARNING), office_names_in_logs():
        for name in (f"{THREAD}doe", f"{THREAD}doe job_0", f"{THREAD}doe job_0 imap_0", "elsewhere"):
            thread = threading.Thread(target=in_office, name=name)
            thread.start()
            thread.join()
    said = [record.getMessage() for record in caplog.records]
    assert said == ["doe: inbox: down"] * 3 + ["inbox: down"]
