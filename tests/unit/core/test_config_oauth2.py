"""The `auth` key of [inbox] and [outbound] and the [oauth2] table: each provider's settings, its defaults,
and every mistake one line naming the file, the key and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.core import config
from hub.core.errors import ConfigError
from hub.run.office import init_office

MICROSOFT = '[oauth2]\nprovider = "microsoft"\ntenant = "doe.example.gov"\nclient_id = "app"\n' \
            'client_secret_env = "HUB_OAUTH2_SECRET"\n'


@pytest.fixture
def office(tmp_path: Path) -> Path:
    return init_office(tmp_path / "office")


def configured(office: Path, oauth2: str, auth: str = "oauth2") -> config.Config:
    text = office.read_text().replace('password_env = "HUB_INBOX_PASSWORD"\n',
                                      f'password_env = "HUB_INBOX_PASSWORD"\nauth = "{auth}"\n')
    office.write_text(text.replace("# One [[staff]] table", f"{oauth2}\n# One [[staff]] table", 1))
    return config.load(office)


def test_password_is_the_default_and_oauth2_reads_the_table(office: Path) -> None:
    plain = config.load(office)
    assert (plain.inbox.auth, plain.outbound.auth, plain.oauth2) == ("password", "password", None)
    loaded = configured(office, MICROSOFT)
    assert loaded.inbox.auth == "oauth2" and loaded.outbound.auth == "password"
    assert loaded.oauth2 is not None
    assert (loaded.oauth2.authority, loaded.oauth2.scope) == ("https://login.microsoftonline.com",
                                                              "https://outlook.office365.com/.default")


def test_gcc_high_and_google_settings(office: Path) -> None:
    gcc = configured(office, MICROSOFT + 'authority = "https://login.microsoftonline.us"\n'
                     'scope = "https://outlook.office365.us/.default"\n').oauth2
    assert gcc is not None and gcc.authority == "https://login.microsoftonline.us"
    office.write_text(init_office(office.parent.parent / "second").read_text())
    google = configured(office, '[oauth2]\nprovider = "google"\nservice_account_file = "config/key.json"\n'
                        'subject = "casework@doe.example.gov"\n').oauth2
    assert google is not None and google.scope == "https://mail.google.com/"
    assert google.service_account_file == str(office.parent.parent / "config" / "key.json")


@pytest.mark.parametrize("table, auth, expected", [
    ("", "oauth2", '[inbox] auth: "oauth2" needs an [oauth2] table'),
    ("", "token", "[inbox] auth: expected one of password, oauth2, got 'token'"),
    ('[oauth2]\nprovider = "yahoo"\n', "oauth2", "[oauth2] provider: expected one of microsoft, google, generic"),
    (MICROSOFT + 'subject = "casework@doe.example.gov"\n', "oauth2",
     "[oauth2] subject: not a setting of provider 'microsoft' (it belongs to google)"),
    (MICROSOFT + 'certificate_file = "app.pem"\n', "oauth2", "[oauth2] client_secret_env: provider 'microsoft' "
     "needs either client_secret_env or certificate_file, not both"),
    (MICROSOFT + 'certificate_thumbprint = "abc"\n', "oauth2", "[oauth2] certificate_thumbprint: expected the "
     "certificate's SHA-1 thumbprint"),
    (MICROSOFT.replace('tenant = "doe.example.gov"\n', ""), "oauth2", "[oauth2] tenant: needed for provider"),
    (MICROSOFT + 'authority = "http://login.example"\n', "oauth2", "[oauth2] authority: expected https://HOST"),
    ('[oauth2]\nprovider = "google"\nsubject = "x@doe.example.gov"\n', "oauth2",
     "[oauth2] service_account_file: needed for provider 'google'"),
    ('[oauth2]\nprovider = "generic"\ntoken_url = "http://auth.example/token"\nclient_id = "hub"\n'
     'client_secret_env = "S"\nscope = "mail"\n', "oauth2", "[oauth2] token_url: expected an https:// URL"),
    ('[oauth2]\nprovider = "generic"\ntoken_url = "https://auth.example/token"\nclient_id = "hub"\n'
     'scope = "mail"\n', "oauth2", "[oauth2] client_secret_env: provider 'generic' needs client_secret_env, "
     "refresh_token_env or both"),
    (MICROSOFT + 'tennant = "x"\n', "oauth2", "[oauth2] tennant: unknown key, did you mean tenant?"),
])
def test_mistakes_are_one_line(office: Path, table: str, auth: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        configured(office, table, auth)
    assert f"{office}: {expected}" in str(caught.value) and "\n" not in str(caught.value)
