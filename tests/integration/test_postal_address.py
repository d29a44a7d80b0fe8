"""The constituent's postal address and the district, on SQLite and PostgreSQL: a web form's ZIP inside or
outside `[office] zip_codes` (the first notice says when it is outside), `#address` by authenticated staff
mail (and refused from mail the office's server did not vouch for), `hub case address` from the command
line, `hub case show --json`'s in_district, and a bad zip_codes entry as a one-line config error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.cli.main import main as hub_cli
from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from hub.core.config import load
from hub.core.errors import ConfigError
from hub.core.models import Outbox
from tests.helpers import STAFF, START, feed
from tests.integration.test_commands import (
    ATTACKER,
    answer,
    arrive,
    case_of,
    cycle,
    events,
    from_staff,
    new_case,
    open_office,
    text_of,
)
from tests.servers.smtp import SmtpServer
from tests.web_forms import FORMS_CONFIG, casework_form

pytestmark = pytest.mark.integration


def with_zip_codes(hub: Hub, zip_codes: str, tables: str = "") -> Hub:
    """The office reopened with `[office] zip_codes = zip_codes` (TOML) and `tables` added."""
    hub.close()
    config = hub.config.path
    text = re.sub(r"(?m)^zip_codes = \[\]$", f"zip_codes = {zip_codes}", config.read_text(), count=1)
    config.write_text(text + tables)
    return open_hub(config, FixedClock(START))


def shown(hub: Hub, ref: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert hub_cli(["--config", str(hub.config.path), "case", "show", ref, "--json"]) == 0
    constituent: dict[str, object] = json.loads(capsys.readouterr().out)["constituent"]
    return constituent


def first_notice(hub: Hub) -> str:
    with hub.sessions() as session:
        row = session.scalars(select(Outbox).where(Outbox.letter == "caseworker-notification")
                              .order_by(Outbox.id)).first()
        assert row is not None
        return f"{row.context.get('notice')}\n{row.context.get('text')}"


@pytest.mark.parametrize("zip_codes, outside", [('["277"]', False), ('["27601", "27603-12"]', True),
                                                 ("[]", False)], ids=["inside", "outside", "no-check"])
def test_a_web_forms_zip_outside_the_district_is_in_the_first_notice(
        tmp_path: Path, database_url: str, smtp: SmtpServer, capsys: pytest.CaptureFixture[str],
        zip_codes: str, outside: bool) -> None:
    hub = with_zip_codes(open_office(tmp_path / "office", database_url, smtp), zip_codes, FORMS_CONFIG)
    try:
        ref = feed(hub, casework_form()).case_ref
        assert ref is not None
        note = "Outside the district: ZIP 27713 is not in [office] zip_codes."
        assert (note in first_notice(hub)) is outside
        person = shown(hub, ref, capsys)
        assert (person["address"], person["zip"]) == ("1412 Cedar Fork Rd\nDurham\nNC", "27713")
        assert person["in_district"] == {'["277"]': True, "[]": None}.get(zip_codes, False)
    finally:
        hub.close()


def test_address_by_staff_mail_sets_it_and_an_unvouched_one_is_refused(
        tmp_path: Path, database_url: str, smtp: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    hub = with_zip_codes(open_office(tmp_path / "office", database_url, smtp), '["27701"]')
    try:
        case = new_case(hub)
        person = shown(hub, case.ref, capsys)
        assert (person["address"], person["zip"], person["in_district"]) == (None, None, None)
        assert "Outside the district" not in first_notice(hub), "no address yet: nothing said"
        (notice,) = smtp.sent_to(STAFF)

        arrive(hub, answer(notice, ATTACKER, "#address 1 Evil Way, Los Angeles, CA 90210"))
        cycle(hub)
        assert shown(hub, case.ref, capsys)["zip"] is None, "only mail the office's server vouched for counts"

        from_staff(hub, answer(notice, STAFF, "#address 214 Oak Street, Durham, NC 27701-1234\n"))
        cycle(hub)
        person = shown(hub, case.ref, capsys)
        assert (person["address"], person["zip"], person["in_district"]) == (
            "214 Oak Street, Durham, NC 27701-1234", "27701-1234", True)
        assert "address set (ZIP 27701-1234)" in text_of(smtp.sent_to(STAFF)[-1])
        (event,) = [event for event in events(hub, case.ref) if event.kind == "address"]
        assert (event.detail, event.actor, event.via) == ("postal address set, ZIP 27701-1234", STAFF, "mail")

        from_staff(hub, answer(notice, STAFF, "#address 214 Oak Street, Durham\n"))
        cycle(hub)
        assert "expected an address that ends with its ZIP" in text_of(smtp.sent_to(STAFF)[-1])
        assert case_of(hub, case.ref).constituent.zip_code == "27701-1234"  # type: ignore[union-attr]
    finally:
        hub.close()


def test_address_from_the_command_line(tmp_path: Path, database_url: str, smtp: SmtpServer,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    hub = with_zip_codes(open_office(tmp_path / "office", database_url, smtp), '["27701"]')
    try:
        ref = new_case(hub).ref
        config = str(hub.config.path)
        assert hub_cli(["--config", config, "case", "address", ref, "9 Sunset Blvd,", "Beverly Hills,", "CA",
                        "90210"]) == 0
        person = shown(hub, ref, capsys)
        assert (person["address"], person["zip"], person["in_district"]) == (
            "9 Sunset Blvd, Beverly Hills, CA 90210", "90210", False)
        capsys.readouterr()
        assert hub_cli(["--config", config, "case", "show", ref]) == 0
        assert "address: 9 Sunset Blvd, Beverly Hills, CA 90210 90210  (outside the district)" in \
            capsys.readouterr().out
        assert hub_cli(["--config", config, "case", "address", ref, "nowhere"]) == 1
        assert capsys.readouterr().err.strip().count("\n") == 0
    finally:
        hub.close()


@pytest.mark.parametrize("entry", ['"2760A"', '"276-12"', '"27603-"', "27601", '"123456"'])
def test_a_bad_zip_codes_entry_is_a_one_line_config_error(tmp_path: Path, database_url: str, smtp: SmtpServer,
                                                          capsys: pytest.CaptureFixture[str], entry: str) -> None:
    hub = open_office(tmp_path / "office", database_url, smtp)
    hub.close()
    config = hub.config.path
    config.write_text(re.sub(r"(?m)^zip_codes = \[\]$", f'zip_codes = ["27601", {entry}]', config.read_text()))
    with pytest.raises(ConfigError, match="zip_codes"):
        load(config)
    capsys.readouterr()
    assert hub_cli(["--config", str(config), "cases"]) != 0
    error = capsys.readouterr().err.strip()
    assert "zip_codes" in error and "\n" not in error


def test_a_new_address_checks_the_district_again(tmp_path: Path, database_url: str, smtp: SmtpServer,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A move out of the district (or back in) by #address, the command line or a later web form is an event, and
    the caseworker reads it in the command's confirmation or in the form's notice."""
    hub = with_zip_codes(open_office(tmp_path / "office", database_url, smtp), '["27701"]', FORMS_CONFIG)
    try:
        case = new_case(hub, sender="Robert Chen <rchen58@example.org>")
        (notice,) = smtp.sent_to(STAFF)
        from_staff(hub, answer(notice, STAFF, "#address 214 Oak Street, Durham, NC 27701\n"))
        cycle(hub)
        assert "address set (ZIP 27701)\n" in text_of(smtp.sent_to(STAFF)[-1]) + "\n"
        assert [event for event in events(hub, case.ref) if event.kind == "district"] == []

        capsys.readouterr()
        assert hub_cli(["--config", str(hub.config.path), "case", "address", case.ref,
                        "9 Sunset Blvd, Beverly Hills, CA 90210"]) == 0
        moved_out = "moved outside the district: ZIP 90210 is not in [office] zip_codes (it was 27701)"
        assert moved_out in capsys.readouterr().out

        from_staff(hub, answer(notice, STAFF, "#address 214 Oak Street, Durham, NC 27701-1234\n"))
        cycle(hub)
        moved_in = "moved into the district: ZIP 27701-1234 is in [office] zip_codes (it was 90210)"
        assert moved_in in " ".join(text_of(smtp.sent_to(STAFF)[-1]).split())

        follow_up = casework_form().replace(b"New submission from", f"{case.ref}: New submission from".encode())
        assert feed(hub, follow_up).case_ref == case.ref
        with hub.sessions() as session:
            form_notice = session.scalars(select(Outbox).where(Outbox.letter == "caseworker-notification")
                                          .order_by(Outbox.id.desc())).first()
            assert form_notice is not None
            assert "Moved outside the district: ZIP 27713 is not in [office] zip_codes (it was 27701-1234)." in \
                str(form_notice.context.get("text"))
        assert [(event.detail[:30], event.via) for event in events(hub, case.ref) if event.kind == "district"] == [
            ("Moved outside the district: ZI", "cli"), ("Moved into the district: ZIP 2", "mail"),
            ("Moved outside the district: ZI", "rule")]
        assert shown(hub, case.ref, capsys)["in_district"] is False
    finally:
        hub.close()
