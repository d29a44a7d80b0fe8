"""Configuration: the packaged example loads; every mistake is one line naming file, key and problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.core import config
from hub.core.errors import ConfigError
from hub.run.office import init_office

REPO = Path(__file__).resolve().parents[3]


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
    assert agencies["va"].release_asks == ("birth_date", "ssn_last4", "claim_number")
    assert agencies["dod"].release_asks == ("birth_date",)


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
    (('caseworker_digest_time = "08:00"', 'caseworker_digest_time = "8 am"'),
     "[schedule] caseworker_digest_time: expected a time of day such as '08:00', got '8 am'"),
    (('caseworker_digest = true', 'caseworker_digest = "yes"'), "[schedule] caseworker_digest: expected bool"),
    (('mail_system = "authres"', 'mail_system = "exchange"'),
     "[office] mail_system: expected one of authres, microsoft365, google, got 'exchange'"),
    (('mail_system = "authres"', 'mail_system = "microsoft365"'),
     '[office] mail_system: "microsoft365" needs [oauth2] tenant, the directory (tenant) id'),
    (('sent_folder_unreachable = "send"', 'sent_folder_unreachable = "resend"'),
     "[outbound] sent_folder_unreachable: expected one of send, wait, got 'resend'"),
    (('sent_folder = "auto"', 'sent_folder = " "'),
     '[outbound] sent_folder: expected "auto", "none" or the name of the Sent folder'),
    # The signing links' base: https, or http on this machine only (the link carries a signing token).
    (("\n# [web]\n", '\n[web]\npublic_url = "ftp://hub.doe.example.gov"\n'),
     "[web] public_url: expected an https:// address such as https://hub.example.gov, got 'ftp://"),
    (("\n# [web]\n", '\n[web]\npublic_url = "http://hub.doe.example.gov"\n'),
     "[web] public_url: expected an https:// address"),
    (("\n# [web]\n", '\n[web]\npublic_url = "https://hub.doe.example.gov"\nrelease_link_days = 0\n'),
     "[web] release_link_days: must be a positive number"),
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


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _refused(office: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        config.load(office)
    message = str(raised.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("file, old, new, expected", [
    # A misspelt section would leave its settings unread: [outbond] quietly delivers into var/sent.
    ("hub.toml", "[outbound]\n", "[outbond]\n", "hub.toml: [outbond]: unknown section, did you mean [outbound]?"),
    ("hub.toml", 'sent_folder = "auto"', 'sent_foldr = "auto"',
     "hub.toml: [outbound] sent_foldr: unknown key, did you mean sent_folder?"),
    ("hub.toml", "checkin_days = 30", "checkin_day = 30",
     "hub.toml: [schedule] checkin_day: unknown key, did you mean checkin_days?"),
    ("hub.toml", "caseworker_digest_time = ", "caseworker_digest_tim = ",
     "hub.toml: [schedule] caseworker_digest_tim: unknown key, did you mean caseworker_digest_time?"),
    ("hub.toml", "[assignment.weekdays]", "[assignment.weekday]",
     "hub.toml: [assignment.weekday]: unknown section, did you mean [assignment.weekdays]?"),
    ("hub.toml", "[[staff]]\nname = \"Sam", "[[staf]]\nname = \"Sam",
     "hub.toml: [[staf]]: unknown section, did you mean [[staff]]?"),
    ("hub.toml", "supervisor = false", "supervisr = false",
     "hub.toml: [staff #1] supervisr: unknown key, did you mean supervisor?"),
    ("hub.toml", "travel_days = 14", "travel_day = 14",
     "hub.toml: [urgency] travel_day: unknown key, did you mean travel_days?"),
    ("hub.toml", "batch_size = 250", "batch_size = 250\nzzz = 1",
     "hub.toml: [inbox] zzz: unknown key (known: auth, batch_size, password_env, poll_seconds, processed_folder, "
     "quarantine_folder, url)"),
    ("agencies.toml", "business_days = false\ninterim_days = 30", "busines_days = false\ninterim_days = 30",
     "agencies.toml: [agencies.ssa] busines_days: unknown key, did you mean business_days?"),
    ("agencies.toml", '"Department of Veterans Affairs"\n', '"Department of Veterans Affairs"\nliason = ""\n',
     "agencies.toml: [agencies.va] liason: unknown key, did you mean liaison?"),
    ("hub.toml", "\n# [web]\n", '\n[web]\npublic_ur = "https://hub.doe.example.gov"\n',
     "hub.toml: [web] public_ur: unknown key, did you mean public_url?"),
    ("agencies.toml", 'release_asks = ["birth_date", "ssn_last4"]', 'release_asks = ["birth_date", "ssn"]',
     "agencies.toml: [agencies.ssa] release_asks: expected a list of birth_date, ssn_last4, claim_number, a_number "
     "(each once), got ['birth_date', 'ssn']"),
    ("agencies.toml", "\n[agencies.ssa]\n", "\n[agency.ssa]\n",
     "agencies.toml: [agency]: unknown section, did you mean [agencies]?"),
])
def test_unknown_keys_and_sections_name_the_closest_known_one(office: Path, file: str, old: str, new: str,
                                                                expected: str) -> None:
    _edit(office.parent / file, old, new)
    message = _refused(office)
    assert message.startswith(str(office.parent)) and message.endswith(expected), message


def test_a_misspelt_required_key_is_named_with_the_missing_one(office: Path) -> None:
    _edit(office, 'name = "Office of Representative Jane Doe"', 'nmae = "Office of Representative Jane Doe"')
    assert _refused(office).endswith("hub.toml: [office] name: missing (is nmae meant to be name?)")


def test_keys_read_only_in_some_setups_are_known_in_all(office: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HUB_SECRET stands in for [office] secret, but a secret written in the file is still a real key."""
    monkeypatch.setenv("HUB_SECRET", "s" * 32)
    assert config.load(office).office.secret == "s" * 32


def test_every_commented_out_example_is_a_known_key(office: Path) -> None:
    """Uncommenting any `# key = value`, `# [table]` or `# [[table]]` line of the shipped files gives a config
    that loads."""
    example = re.compile(r"(?m)^# (\[\[?[a-z0-9_.]+\]\]?|[a-z_]+ = .*)$")
    for file in (office, office.parent / "agencies.toml"):
        text = file.read_text()
        assert example.search(text), f"{file.name} shows no commented-out example"
        file.write_text(example.sub(r"\1", text).replace("ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "AC" + "0" * 32))
    loaded = config.load(office)
    assert loaded.sms is not None and loaded.inbox.poll_seconds == 60
    assert loaded.web is not None and loaded.web.address == ("127.0.0.1", 8025)
    assert loaded.oauth2 is not None and loaded.oauth2.provider == "microsoft"
    assert [form.sender for form in loaded.forms] == ["noreply@forms.doe.example.gov"]
    assert loaded.agency("ssa").require_authentication is False


def test_microsoft365_reads_the_tenant_id_of_oauth2(office: Path) -> None:
    _edit(office, 'mail_system = "authres"', 'mail_system = "microsoft365"')
    office.write_text(office.read_text() + '\n[oauth2]\nprovider = "microsoft"\ntenant = "contoso.onmicrosoft.com"\n'
                      'client_id = "casework-hub"\nclient_secret_env = "HUB_OAUTH2_SECRET"\n')
    assert _refused(office).endswith("hub.toml: [oauth2] tenant: 'contoso.onmicrosoft.com': [office] mail_system = "
                                     '"microsoft365" compares it with the tenant id Exchange stamps on internal mail, '
                                     "so it must be that id (8-4-4-4-12 hexadecimal digits, as the Entra admin center "
                                     "shows it), not a domain")
    _edit(office, 'tenant = "contoso.onmicrosoft.com"', 'tenant = "3F8E2D41-7C5A-4B9E-9D2F-6A1B0C7E5D93"')
    loaded = config.load(office)
    assert (loaded.office.mail_system, loaded.oauth2_tenant) == ("microsoft365", "3f8e2d41-7c5a-4b9e-9d2f-6a1b0c7e5d93")


def test_an_agencys_short_name_is_what_notices_call_it_and_defaults_to_its_name(office: Path) -> None:
    _edit(office.parent / "agencies.toml", 'short_name = "USPS"\n', "")
    agencies = {a.key: a for a in config.load(office).agencies}
    assert agencies["ssa"].short_name == "SSA" and agencies["usps"].short_name == "United States Postal Service"
    _edit(office.parent / "agencies.toml", 'short_name = "SSA"', "short_name = 3")
    with pytest.raises(ConfigError, match=r"agencies.ssa\] short_name: expected str"):
        config.load(office)


def test_agencies_require_authentication_unless_told_otherwise(office: Path) -> None:
    _edit(office.parent / "agencies.toml", "[agencies.usps]\n", "[agencies.usps]\nrequire_authentication = false\n")
    agencies = {a.key: a for a in config.load(office).agencies}
    assert agencies["ssa"].require_authentication is True and agencies["usps"].require_authentication is False


@pytest.mark.parametrize("old, new, expected", [
    ('email = "sam.carter@doe.example.gov"', 'email = "Maria.Lopez@doe.example.gov"',
     "hub.toml: [staff #2] email: maria.lopez@doe.example.gov is also [staff #1] (Maria Lopez)"),
    ('email = "sam.carter@doe.example.gov"', 'email = "sam.carter@doe.example.gov"\nshort = "Maria"',
     'hub.toml: [staff #1] short: missing, and "maria" (the first name) also names [staff #2] (Sam Carter); '
     "give each person a short name of their own"),
    ('name = "Sam Carter"', 'name = "Maria Garcia"',
     'hub.toml: [staff #1] short: missing, and "maria" (the first name) also names [staff #2] (Maria Garcia); '
     "give each person a short name of their own"),
    ('"air-force", "marines"]', '"air-force", "marines"]\nshort = "sam"\n[[staff]]\nname = "Samuel Ortiz"\n'
     'email = "so@doe.example.gov"\nshort = "Sam"',
     'hub.toml: [staff #2] short: "sam" also names [staff #3] (Samuel Ortiz); '
     "give each person a short name of their own"),
])
def test_two_staff_entries_for_one_name_are_refused(office: Path, old: str, new: str, expected: str) -> None:
    """`#assign maria` must name one person: nobody's address, or the name commands list them by, is shared."""
    _edit(office, 'short = "maria"\n', "")  # Maria answers to her first name only
    _edit(office, old, new)
    assert _refused(office).endswith(expected)


def test_namesakes_with_short_names_of_their_own_load(office: Path) -> None:
    _edit(office, 'name = "Sam Carter"', 'name = "Maria Garcia"\nshort = "mg"')
    loaded = config.load(office)
    assert loaded.person("mg").name == "Maria Garcia" and loaded.person("maria").name == "Maria Lopez"


def test_a_portfolio_agency_must_be_in_the_directory(office: Path) -> None:
    _edit(office, 'agencies = ["ssa", "cms"]', 'agencies = ["ssa", "cmss"]')
    assert _refused(office).endswith('hub.toml: [staff #1] agencies: no agency "cmss" in agencies.toml, '
                                     "did you mean cms?")


@pytest.mark.parametrize("added, expected", [
    ('[agencies.SSA]\nname = "Again"\ndomains = ["example.gov"]\n',
     "agencies.toml: [agencies.SSA]: the same agency key as [agencies.ssa]"),
    ('[agencies.ssa-east]\nname = "SSA East"\ndomains = ["ssa.gov"]\n',
     'agencies.toml: [agencies.ssa-east] domains: "ssa.gov" is already [agencies.ssa]; a mail domain'),
    ('[agencies.ssa-east]\nname = "SSA East"\ndomains = ["east.ssa.gov"]\n',
     'agencies.toml: [agencies.ssa-east] domains: "east.ssa.gov" overlaps ssa.gov, a domain of [agencies.ssa]'),
])
def test_one_agency_per_key_and_per_domain(office: Path, added: str, expected: str) -> None:
    directory = office.parent / "agencies.toml"
    directory.write_text(directory.read_text() + "\n" + added)
    assert expected in _refused(office)


def test_a_missing_agency_directory_is_an_error(office: Path) -> None:
    directory = office.parent / "agencies.toml"
    directory.unlink()
    assert _refused(office).startswith(f"{directory}: no agency directory")


def test_retention_is_off_unless_the_office_sets_it(office: Path) -> None:
    assert not config.load(office).retention.enabled
    office.write_text(office.read_text() + "\n[retention]\nclosed_case_years = 7\n")
    retention = config.load(office).retention
    assert (retention.closed_case_years, retention.raw_mail_days, retention.enabled) == (7, None, True)


@pytest.mark.parametrize("table, expected", [
    ("closed_case_years = 0", "[retention] closed_case_years: must be a positive number, got 0"),
    ("raw_mail_days = -30", "[retention] raw_mail_days: must be a positive number, got -30"),
    ('closed_case_years = "seven"', "[retention] closed_case_years: expected int, got str 'seven'"),
    ("raw_mail_days = 1.5", "[retention] raw_mail_days: expected int, got float 1.5"),
    ("closed_case_year = 7", "[retention] closed_case_year: unknown key, did you mean closed_case_years?"),
    ("raw_mail = 7", "[retention] raw_mail: unknown key, did you mean raw_mail_days?"),
])
def test_bad_retention_settings_are_one_line(office: Path, table: str, expected: str) -> None:
    office.write_text(office.read_text() + f"\n[retention]\n{table}\n")
    message = _refused(office)
    assert message.startswith(str(office)) and message.endswith(expected), message
