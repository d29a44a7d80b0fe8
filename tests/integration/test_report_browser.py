"""The weekly report's HTML as its readers see it: the mail the supervisors get (the sent copy, composed as
delivery composes it) and the file `hub report weekly --html` writes, each opened in headless Chromium.

Chromium is Debian's (/usr/bin/chromium; scripts/test.sh installs it), driven by Playwright; Playwright's
own browsers are never downloaded. Set HUB_REPORT_SCREENSHOT=docs/weekly-report.png to keep a screenshot of
the mail as Chromium shows it (the README's picture is made so).
"""

from __future__ import annotations

import base64
import logging
import mailbox
import os
import re
import shutil
import stat
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from hub.cli.main import main as hub_cli
from hub.core.app import Hub
from hub.core.clock import FixedClock
from hub.core.models import Outbox
from hub.delivery.deliver import deliver_due
from hub.letters.compose import carried_html
from hub.reports.week import parse_week
from hub.reports.weekly import queue_report, send_weekly_if_due, weekly_report
from tests.integration.test_report_year import answer
from tests.integration.test_reports import MARIA, Office, at, cli, fill  # noqa: F401 (cli is a fixture)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHARTS = 6  # year, ages, caseworkers, agencies, days to answer, overdue answers
CID = re.compile(r"""src="cid:([^"]+)\"""")


@pytest.fixture
def browser() -> None:
    """Skips the test without Debian's Chromium (fails it under CI)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium; scripts/test.sh does as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


def images_loaded(*, html: str | None = None, url: str | None = None,
                  screenshot: Path | None = None) -> list[dict[str, object]]:
    """Every <img> of the page once it has loaded in Chromium: its alt text and natural size.

    Playwright's sync API runs an event loop while it is open, so it is opened here, after the hub's own
    (delivery's asyncio.run) is done."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            return _images(chromium, html, url, screenshot)
        finally:
            chromium.close()


def _images(chromium: Browser, html: str | None, url: str | None, screenshot: Path | None) -> list[dict[str, object]]:
    page = chromium.new_page(viewport={"width": 660, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    if html is not None:
        page.set_content(html, wait_until="load")
    else:
        page.goto(str(url), wait_until="load")
    found = page.eval_on_selector_all(
        "img", "images => images.map(i => ({alt: i.alt, width: i.naturalWidth, height: i.naturalHeight,"
               " complete: i.complete}))")
    assert page.eval_on_selector_all("script, svg, link, object, iframe", "found => found.length") == 0
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    fetched = [address for address in requests if not address.startswith(("data:", "file:", "about:"))]
    assert fetched == [], "the report fetches nothing from elsewhere"
    return found


def with_agency_mail(hub: Hub) -> None:
    """The hand-made office of test_reports, and an inquiry answered in 10 days and one waiting past its standard."""
    fill(hub)
    with hub.sessions.begin() as session:
        office = Office(session)
        office.count = 100  # past fill's references
        answered = office.case(at(2026, 9, 30), assignee=MARIA, agency="ssa")
        office.sent(answered, MARIA, at(2026, 10, 1), letter="agency-inquiry")
        answer(session, answered.id, at(2026, 10, 11))
        waiting = office.case(at(2026, 8, 30), assignee=MARIA, agency="va")
        office.sent(waiting, MARIA, at(2026, 9, 1), letter="agency-inquiry")


def sent_report(hub: Hub) -> EmailMessage:
    queue_report(hub, weekly_report(hub, parse_week("2026-W47", hub.config.office.timezone)))
    assert deliver_due(hub).counts == {"sent": 1}
    [raw] = list(mailbox.Maildir(hub.config.resolve("var/sent"), create=False))
    mail = message_from_bytes(raw.as_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    return mail


def test_every_chart_of_the_mail_loads_in_chromium(hub: Hub, browser: None, tmp_path: Path) -> None:
    with_agency_mail(hub)
    mail = sent_report(hub)
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and "Top issue areas" in text.get_content()
    assert html is not None and html.get_content_type() == "text/html"
    [attached] = list(mail.iter_attachments())
    assert attached.get_filename() == "casework-report-2026-W47.csv"
    related = next(part for part in mail.walk() if part.get_content_type() == "multipart/related")
    parts = {str(part["Content-ID"]).strip("<>"): part for part in related.iter_parts()
             if part.get_content_maintype() == "image"}
    document = html.get_content()
    referenced = CID.findall(document)
    assert len(referenced) == CHARTS and set(referenced) == set(parts), "every cid has its part and every part a cid"
    for part in parts.values():
        assert part.get_content_type() == "image/png" and part.get_content_disposition() == "inline"
    with hub.sessions() as session:  # what a resend, or the sent copy composed again, is made from
        [row] = session.scalars(select(Outbox).where(Outbox.letter == "weekly-report")).all()
        kept = carried_html(row.context)
    assert kept is not None and {image.cid: image.data for image in kept.images} == {
        cid: part.get_payload(decode=True) for cid, part in parts.items()}
    for marker in ("<script", "<svg", "http://", "https://", "<link", "<style"):
        assert marker not in document.lower()

    def data_uri(match: re.Match[str]) -> str:
        payload = parts[match[1]].get_payload(decode=True)
        assert isinstance(payload, bytes)
        return f'src="data:image/png;base64,{base64.b64encode(payload).decode()}"'

    shown = tmp_path / "weekly-report.png"
    images = images_loaded(html=CID.sub(data_uri, document), screenshot=shown)
    assert len(images) == CHARTS
    for image in images:
        assert image["complete"] and int(str(image["width"])) > 0 and int(str(image["height"])) > 0, image
        assert str(image["alt"]).startswith(("Line chart", "Bar chart")), image
    keep = os.environ.get("HUB_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(shown, keep)


def test_the_html_file_for_a_browser(hub: Hub, cli: Path, browser: None,  # noqa: F811
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with_agency_mail(hub)
    page = tmp_path / "report.html"
    assert hub_cli(["--config", str(cli), "report", "weekly", "--html", str(page)]) == 0
    assert capsys.readouterr().out == (f"wrote the weekly report 2026-W47 to {page} (one file: its charts inside "
                                       "it)\n")
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert "cid:" not in page.read_text()
    images = images_loaded(url=page.as_uri())
    assert len(images) == CHARTS and all(int(str(image["width"])) > 0 for image in images)


def test_html_into_a_folder_that_is_not_there_is_one_line(hub: Hub, cli: Path,  # noqa: F811
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub_cli(["--config", str(cli), "report", "weekly", "--send", "--html", str(tmp_path / "no" / "r.html")]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == f"hub: --html: cannot write {tmp_path / 'no' / 'r.html'}: No such file or directory\n"
    with hub.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Outbox)) == 0, "nothing queued when the file fails"


def test_the_daemons_report_draws_its_charts_in_a_child_process(hub: Hub) -> None:
    with_agency_mail(hub)
    clock = hub.clock
    assert isinstance(clock, FixedClock)
    clock.at = at(2026, 11, 23, 12)  # Monday 07:00 New York: W47's report is due
    assert send_weekly_if_due(hub) == "weekly report 2026-W47 queued for 1 supervisor(s)"
    with hub.sessions() as session:
        [row] = session.scalars(select(Outbox).where(Outbox.letter == "weekly-report")).all()
        kept = carried_html(row.context)
    assert kept is not None and len(kept.images) == CHARTS
    assert all(image.data.startswith(b"\x89PNG\r\n\x1a\n") for image in kept.images)
    assert set(CID.findall(kept.html)) == {image.cid for image in kept.images}


def test_a_report_whose_charts_fail_goes_with_its_tables(hub: Hub, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("no fonts")

    monkeypatch.setattr("hub.reports.weekly.draw_charts", broken)
    fill(hub)
    with caplog.at_level(logging.WARNING, logger="hub"):
        report = weekly_report(hub, parse_week("2026-W47", hub.config.office.timezone))
    assert report.html.images == () and "<img" not in report.html.html and "Top agencies" in report.html.html
    assert [record.getMessage() for record in caplog.records] == [
        "weekly report 2026-W47: charts not drawn (RuntimeError: no fonts); it goes without them"]
