"""Configuration: the packaged example loads; every mistake is one line naming file, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub import config
from hub.errors import ConfigError
from hub.office import init_office

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def office(tmp_path: Path) -> Path:
    return init_office(tmp_path / "office")


def test_the_packaged_example_is_complete(office: Path) -> None:
    loaded = config.load(office)
    assert loaded.office.address == "casework@doe.example.gov"
    assert loaded.database_url == f"sqlite:///{office.parent.parent / 'var' / 'hub.db'}"
    assert loaded.resolve("var/inbox") == office.parent.parent / "var" / "inbox"
    assert [s.email for s in loaded.staff] == ["maria.lopez@doe.example.gov", "sam.carter@doe.example.gov"]
    keys = {a.key for a in loaded.agencies}
    assert {"ssa", "cms", "dol-owcp", "dod", "army", "navy", "air-force", "marines", "va", "irs", "uscis",
            "state", "usps", "opm", "hud", "sba"} <= keys


def test_every_key_in_the_example_is_commented() -> None:
    """Each key has a comment line right above it (a [[staff]] key repeated in a later table is explained)."""
    lines = (REPO / "config" / "hub.toml").read_text().splitlines()
    explained: set[str] = set()
    for number, line in enumerate(lines):
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        key = line.split("=", 1)[0].strip()
        if lines[number - 1].lstrip().startswith("#"):
            explained.add(key)
        assert key in explained, f"config/hub.toml line {number + 1}: {key} has no comment"


def test_agencies_match_by_domain_and_subdomain(office: Path) -> None:
    agencies = {a.key: a for a in config.load(office).agencies}
    assert agencies["ssa"].has_domain("ssa.gov") and agencies["ssa"].has_domain("mail.ssa.gov")
    assert not agencies["ssa"].has_domain("notssa.gov")
    assert agencies["irs"].business_days and agencies["irs"].response_days == 20
    assert agencies["ssa"].response_days == 20 and agencies["dod"].response_days == 30


@pytest.mark.parametrize("change, expected", [
    (('timezone = "America/New_York"', 'timezone = "Mars/Olympus"'), "[office] timezone: unknown time zone"),
    (('address = "casework@doe.example.gov"', 'address = "casework"'), "[office] address: not an email address"),
    (('batch_size = 250', 'batch_size = "many"'), "[inbox] batch_size: expected int"),
    (('batch_size = 250', 'batch_size = 0'), "[inbox] batch_size: must be a positive number"),
    (('url = "maildir:var/inbox"', 'url = "pop3://x"'), "[inbox] url: expected maildir:PATH"),
    (('url = "sqlite:///var/hub.db"', 'url = "mysql://x"'), "[database] url: expected sqlite"),
    (('reference_prefix = "CW"', 'reference_prefix = "C-W"'), "[office] reference_prefix: must be 1 to 6 letters"),
    (('name = "Office of Representative Jane Doe"\n', ''), "[office] name: missing"),
    (('email = "maria.lopez@doe.example.gov"', 'email = "maria"'), "[staff #1] email: not an email address"),
    (('[office]', '[office'), "not valid TOML"),
])
def test_bad_values_name_the_file_and_key(office: Path, change: tuple[str, str], expected: str) -> None:
    text = office.read_text()
    assert change[0] in text
    office.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(ConfigError) as raised:
        config.load(office)
    message = str(raised.value)
    assert message.startswith(str(office)) and expected in message and "\n" not in message


def test_bad_agency_directory_names_its_file(office: Path) -> None:
    agencies = office.parent / "agencies.toml"
    agencies.write_text('[agencies.ssa]\nname = "SSA"\ndomains = "ssa.gov"\n')
    with pytest.raises(ConfigError, match=r"agencies.toml: \[agencies.ssa\] domains: expected list"):
        config.load(office)


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file .*hub init"):
        config.load(tmp_path / "nowhere.toml")


def test_init_writes_private_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = init_office(tmp_path / "o")
    assert path.stat().st_mode & 0o077 == 0
    assert (tmp_path / "o" / "var").stat().st_mode & 0o077 == 0
    assert (tmp_path / "o" / "var" / "hub.db").stat().st_mode & 0o077 == 0
    assert "REPLACED-BY-HUB-INIT" not in path.read_text()
    with pytest.raises(Exception, match="already exists"):
        init_office(tmp_path / "o")
