"""Secrets by the names the `*_env` keys give: a file in $CREDENTIALS_DIRECTORY (systemd's LoadCredential=)
before the environment variable, one trailing newline dropped; the configuration reads every secret so."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.core import config
from hub.core.secrets import secret
from hub.run.office import init_office


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "credentials"
    folder.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(folder))
    return folder


def test_the_environment_is_read_without_a_credentials_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("HUB_TEST_SECRET", "from the environment")
    assert secret("HUB_TEST_SECRET") == "from the environment"
    monkeypatch.delenv("HUB_TEST_SECRET")
    assert secret("HUB_TEST_SECRET") is None
    assert secret("") is None


def test_a_credential_file_comes_before_the_environment(credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_TEST_SECRET", "from the environment")
    (credentials / "HUB_TEST_SECRET").write_text("from the file\n")
    assert secret("HUB_TEST_SECRET") == "from the file"
    # A name with no file falls back to the environment; one with no file and no variable is not set.
    monkeypatch.setenv("HUB_OTHER_SECRET", "other")
    assert secret("HUB_OTHER_SECRET") == "other"
    assert secret("HUB_MISSING_SECRET") is None


def test_only_one_trailing_newline_goes(credentials: Path) -> None:
    (credentials / "A").write_text("  spaced and two lines\n\n")
    (credentials / "B").write_bytes(b"no newline")
    (credentials / "C").write_text("")
    assert secret("A") == "  spaced and two lines\n"
    assert secret("B") == "no newline"
    assert secret("C") == ""


def test_a_name_that_would_leave_the_folder_reads_the_environment_only(
        tmp_path: Path, credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "outside").write_text("not a credential")
    monkeypatch.setenv("../outside", "env")
    assert secret("../outside") == "env"


def test_the_configuration_reads_every_secret_through_the_credentials_folder(
        tmp_path: Path, credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = init_office(tmp_path / "office")
    tables = ('[sms]\naccount_sid = "AC0123456789abcdef0123456789abcdef"\nnumber = "+15555550100"\n\n'
              '[oauth2]\nprovider = "generic"\ntoken_url = "https://login.example.net/token"\nclient_id = "hub"\n'
              'scope = "mail"\nclient_secret_env = "HUB_OAUTH2_SECRET"\n')
    text = path.read_text().replace("\n[[staff]]", f"\n{tables}\n[[staff]]", 1)
    path.write_text(text)
    for name in ("HUB_INBOX_PASSWORD", "HUB_SMTP_PASSWORD", "TWILIO_AUTH_TOKEN", "HUB_OAUTH2_SECRET", "HUB_SECRET"):
        monkeypatch.setenv(name, f"{name} from the environment, long enough")
        (credentials / name).write_text(f"{name} from the file, long enough\n")
    loaded = config.load(path)
    assert loaded.inbox.password == "HUB_INBOX_PASSWORD from the file, long enough"
    assert loaded.outbound.password == "HUB_SMTP_PASSWORD from the file, long enough"
    assert loaded.sms is not None and loaded.sms.auth_token == "TWILIO_AUTH_TOKEN from the file, long enough"
    assert loaded.oauth2 is not None and loaded.oauth2.client_secret == "HUB_OAUTH2_SECRET from the file, long enough"
    assert loaded.office.secret == "HUB_SECRET from the file, long enough"
