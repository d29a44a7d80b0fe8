"""The privacy release signed by link, end to end: the privacy-release-request letter carries a personal link,
the constituent opens it on a phone (Debian's Chromium at 375 pixels, driven by Playwright), fills in what the
agency needs, draws a signature and signs; the signed PDF (read back with pdftotext) carries the audit trail,
is the case's release (method e-sign), goes to the caseworker, and the agency inquiry encloses it. On SQLite and
PostgreSQL.

Also: a forged, an expired, a used and a revoked link each get a page that says so (no traceback); a form with
mistakes comes back with the mistakes named and tied to their fields, the name kept and the agency's numbers
never written back; the numbers never reach a log line; the form is signed with the keyboard alone and every
text contrasts at 4.5:1 (WCAG 2.1 AA); two signings at once by one link record one release; the release covers
the agency the case has when it is signed. Set HUB_RELEASE_SCREENSHOTS=docs to keep the phone screenshots of
the README.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.core.app import Hub, open_hub
from hub.core.clock import FixedClock
from hub.core.file_store import attachment_bytes
from hub.core.models import Attachment, Event, Release, ReleaseLink
from hub.run.web import web_app
from tests.helpers import START
from tests.integration.test_agency_inquiry import enclosed, text_of
from tests.integration.test_commands import LIAISON, MARIA, PAT, answer, cycle, from_staff, new_case, open_office
from tests.integration.test_report_browser import CHROMIUM, browser  # noqa: F401 (browser is a fixture)
from tests.servers.smtp import SmtpServer
from tests.web_thread import ServedApp

pytestmark = pytest.mark.integration

PUBLIC_URL = "http://localhost:8025"
LINK = re.compile(r"http://localhost:8025(/release/[A-Za-z0-9._-]+)")
PHONE = {"width": 375, "height": 812}
USER_AGENT = "Mozilla/5.0 (Linux; Android 14; Pixel 8) HeadlessChrome casework-hub-test"
BIRTH, SSN = "1958-04-27", "6789"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def office(tmp_path: Path, database_url: str, smtp: SmtpServer) -> Iterator[Hub]:
    """The office of the command tests (SSA with a liaison) with release links on."""
    first = open_office(tmp_path / "office", database_url, smtp)
    first.close()
    path = first.config.path
    path.write_text(path.read_text() + f'\n[web]\npublic_url = "{PUBLIC_URL}"\n')
    hub = open_hub(path, FixedClock(START))
    yield hub
    hub.close()


def requested(hub: Hub, smtp: SmtpServer, force: bool = False) -> str:
    """A case for SSA whose privacy-release-request went to Pat; the path of the link it carries."""
    if not smtp.sent_to(MARIA):
        new_case(hub)
    notice = smtp.sent_to(MARIA)[0]
    from_staff(hub, answer(notice, MARIA, "#agency ssa\n#send privacy-release-request"
                                          + (" force" if force else "") + "\n"))
    cycle(hub)
    text = text_of(smtp.sent_to(PAT)[-1])
    found = LINK.search(text)
    assert found is not None, text
    return found.group(1)


def fetch(port: int, path: str, form: dict[str, str] | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, str]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers or {})
    try:
        with OPENER.open(request, timeout=30) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def screenshot(page: object, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    keep = os.environ.get("HUB_RELEASE_SCREENSHOTS")
    if keep:
        shutil.copy(path, Path(keep) / name)


def sign_in_chromium(port: int, link: str, tmp_path: Path) -> dict[str, object]:
    """A phone whose browser speaks Spanish opens the link and sends the form with mistakes, then switches to
    English; then Pat signs on a phone that speaks English (mistakes use no link up). What the pages said."""
    from playwright.sync_api import sync_playwright

    seen: dict[str, object] = {}
    phone = {"viewport": PHONE, "user_agent": USER_AGENT, "device_scale_factor": 1, "is_mobile": True,
             "has_touch": True}
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = chromium.new_context(locale="es-US", extra_http_headers={"Accept-Language": "es-US,es;q=0.9"},
                                           **phone)  # type: ignore[arg-type]
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}{link}", wait_until="load")
            seen["es_lang"] = page.get_attribute("html", "lang")
            seen["es_heading"] = page.inner_text("h1")
            seen["es_fits"] = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.fill("#ssn_last4", "67")  # mistakes: two digits, and no date, signature or consent
            page.fill("#full_name", "Pat Example")
            page.click("button[type=submit]")
            page.wait_for_selector("#errors")
            seen["es_errors"] = page.inner_text("#errors")
            seen["mistake_focus"] = page.evaluate("document.activeElement.id")
            seen["mistake_invalid"] = page.get_attribute("#ssn_last4", "aria-invalid")
            seen["mistake_described"] = page.get_attribute("#ssn_last4", "aria-describedby")
            seen["mistake_kept_name"] = page.input_value("#full_name")
            seen["mistake_kept_ssn"] = page.input_value("#ssn_last4")
            screenshot(page, tmp_path, "release-sign-es.png")
            page.click("a.switch")
            page.wait_for_selector("h1")
            seen["switched_heading"] = page.inner_text("h1")
            context.close()
            context = chromium.new_context(locale="en-US", **phone)  # type: ignore[arg-type]
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}{link}", wait_until="load")
            seen["en_title"] = page.title()
            seen["fits"] = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.fill("#birth_date", BIRTH)
            page.fill("#ssn_last4", SSN)
            page.fill("#full_name", "Pat Example")
            pad = page.locator("#pad")
            pad.scroll_into_view_if_needed()
            box = pad.bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + 20, box["y"] + 100)
            page.mouse.down()
            for step in range(1, 12):
                page.mouse.move(box["x"] + 20 + step * 25, box["y"] + 100 + (30 if step % 2 else -30), steps=3)
            page.mouse.up()
            page.check("#consent")
            screenshot(page, tmp_path, "release-sign-en.png")
            page.click("button[type=submit]")
            page.wait_for_selector("h1")
            seen["done_title"] = page.title()
            seen["done_html"] = page.content()
            seen["done_fits"] = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            screenshot(page, tmp_path, "release-signed-en.png")
            context.close()

        finally:
            chromium.close()
    return seen


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "signed.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


@pytest.mark.usefixtures("browser")
def test_signed_on_a_phone_the_release_is_filed_told_and_enclosed(office: Hub, smtp: SmtpServer, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    hub = office
    caplog.set_level(logging.DEBUG)
    english = requested(hub, smtp)
    letter = text_of(smtp.sent_to(PAT)[-1])
    assert "works once, until December 6, 2026" in " ".join(letter.split()), letter  # 14 days from November 23
    served = ServedApp(web_app(hub))
    try:
        seen = sign_in_chromium(served.port, english, tmp_path)
    finally:
        assert served.stop() is False

    assert seen["fits"] is seen["done_fits"] is seen["es_fits"] is True, "nothing wider than the phone's screen"
    assert "Sign your privacy release" in str(seen["en_title"])
    done = str(seen["done_html"])
    assert "Thank you: your release is signed" in str(seen["done_title"]), re.findall(r"<li>.*?</li>", done)
    # Signed: the numbers shown back masked only.
    assert "••/••/1958" in done and "•••-••-••89" in done
    assert BIRTH not in done and SSN not in done and "04/27" not in done
    # Spanish: the browser's language; the mistakes named, the focus on their summary, each tied to its field;
    # the name kept, the numbers asked again; and the switch to English.
    assert seen["es_lang"] == "es" and seen["es_heading"] == "Firme su autorización de privacidad"
    errors = str(seen["es_errors"])
    assert "Fecha de nacimiento: este dato es obligatorio." in errors
    assert "Últimos cuatro dígitos de su número de Seguro Social: escriba exactamente 4 dígitos." in errors
    assert "Su firma: dibújela en el recuadro o escriba su nombre." in errors
    assert "Su consentimiento: marque la casilla" in errors
    assert "no mostramos de nuevo" in errors
    assert seen["mistake_focus"] == "errors"
    assert seen["mistake_invalid"] == "true" and seen["mistake_described"] == "ssn_last4-hint ssn_last4-error"
    assert seen["mistake_kept_name"] == "Pat Example" and seen["mistake_kept_ssn"] == ""
    assert seen["switched_heading"] == "Sign your privacy release"

    with hub.sessions() as session:
        (release,) = session.scalars(select(Release))
        assert (release.method, release.scope, release.via, release.signed_on) == \
            ("e-sign", ["ssa"], "web", START.date())
        assert release.attachment_id is not None
        attachment = session.get_one(Attachment, release.attachment_id)
        assert attachment.content_type == "application/pdf" and attachment.filename.startswith("privacy-release-")
        pdf = attachment_bytes(session, attachment)
        assert pdf is not None and pdf.startswith(b"%PDF")
        used = session.scalars(select(ReleaseLink).where(ReleaseLink.used_at.is_not(None))).one()
        assert used.release_id == release.id
        history = " ".join(session.scalars(select(Event.detail).where(Event.case_id == release.case_id)))
    text = pdf_text(pdf, tmp_path)
    flat = " ".join(text.split())
    assert "Privacy Act release" in flat and "Social Security Administration" in flat
    assert f"Date of birth: {BIRTH}" in flat and f"Last four digits of your Social Security number: {SSN}" in flat
    assert "Full legal name: Pat Example" in flat and "(drawn on screen)" in flat
    assert "Signed at (UTC): 2026-11-23" in flat
    assert "IP address: 127.0.0.1" in flat
    assert f"User agent: {USER_AGENT}" in flat
    assert f"Link token id: {used.token_id}" in flat
    found = re.search(r"Document SHA-256: ([0-9a-f]{64})", flat)
    assert found is not None, flat
    assert f"signed content sha256 {found.group(1)}" in history, "the history records the hash the PDF prints"
    assert BIRTH not in history and SSN not in history
    assert used.token_id in history
    for record in caplog.records:  # the agency's numbers never reach the hub's log, nor the token
        if not record.name.startswith("hub"):
            continue  # the test's SMTP server logs the mail it receives, link included
        line = record.getMessage()
        assert BIRTH not in line and "04/27/1958" not in line and f"-{SSN}" not in line and SSN not in line
        assert english.rsplit("/", 1)[1] not in line

    # The caseworker is told, with the PDF; the inquiry to SSA encloses it.
    cycle(hub)
    told = [m for m in smtp.sent_to(MARIA) if "Privacy release signed by link" in text_of(m)]
    assert len(told) == 1 and any(data == pdf for _, _, data in enclosed(told[0]))
    notice = smtp.sent_to(MARIA)[0]
    from_staff(hub, answer(notice, MARIA, "#send agency-inquiry\n"))
    cycle(hub)
    (inquiry,) = smtp.sent_to(LIAISON)
    assert [(name, kind) for name, kind, _ in enclosed(inquiry)] == [(attachment.filename, "application/pdf")]
    assert enclosed(inquiry)[0][2] == pdf


def test_forged_expired_used_and_revoked_links_get_a_page_that_says_so(office: Hub, smtp: SmtpServer) -> None:
    hub = office
    path = requested(hub, smtp)
    served = ServedApp(web_app(hub))
    try:
        forged = path[:-3] + ("abc" if not path.endswith("abc") else "xyz")
        status, page = fetch(served.port, forged)
        assert status == 404 and "This link is not valid" in page and "Traceback" not in page
        status, page = fetch(served.port, "/release/not-even-a-token")
        assert status == 404 and "This link is not valid" in page
        status, page = fetch(served.port, forged, headers={"Accept-Language": "es"})
        assert status == 404 and "Este enlace no es válido" in page

        # A form with mistakes: each named; what the agency needs is not written back.
        status, page = fetch(served.port, path, {"lang": "en", "birth_date": "13/45/1958", "ssn_last4": SSN,
                                                 "full_name": "Pat Example", "typed_signature": ""})
        assert status == 422
        assert "Date of birth: enter a real date in the past" in page
        assert "Your signature: draw it in the box or type your name." in page
        assert "Your consent: check the box" in page
        assert 'value="Pat Example"' in page and SSN not in page and "13/45" not in page
        status, page = fetch(served.port, path, {"lang": "en", "birth_date": BIRTH, "ssn_last4": SSN,
                                                 "full_name": "Pat Example", "typed_signature": "Pat Example",
                                                 "consent": "yes", "drawn": "data:image/png;base64,AAAA"})
        assert status == 422 and "the drawing could not be read" in page

        # Signed once with a typed signature; the link then says it was used, and cannot sign twice.
        form = {"lang": "en", "birth_date": "04/27/1958", "ssn_last4": SSN, "full_name": "Pat Example",
                "typed_signature": "Pat Example", "consent": "yes"}
        status, page = fetch(served.port, path, form)
        assert status == 200 and "Thank you: your release is signed" in page, page
        status, page = fetch(served.port, path)
        assert "already signed with this link" in page
        status, page = fetch(served.port, path, form)
        assert "already signed with this link" in page
        with hub.sessions() as session:
            assert len(session.scalars(select(Release)).all()) == 1

        # Revoked: by a newer letter's link, and by the caseworker's #release revoke.
        older = requested(hub, smtp, force=True)
        newer = requested(hub, smtp, force=True)
        status, page = fetch(served.port, older)
        assert status == 410 and "cancelled by our office" in page
        assert fetch(served.port, newer)[0] == 200
        from_staff(hub, answer(smtp.sent_to(MARIA)[0], MARIA, "#release revoke\n"))
        cycle(hub)
        assert "1 unused link(s) to sign the release revoked" in text_of(smtp.sent_to(MARIA)[-1])
        status, page = fetch(served.port, newer)
        assert status == 410 and "cancelled by our office" in page
        with hub.sessions() as session:
            kinds = list(session.scalars(select(Event.kind).where(Event.kind.like("release-link%"))))
        assert kinds.count("release-link") == 3 and kinds.count("release-links-revoked") == 1

        # Expired: the clock past the link's 14 days.
        expiring = requested(hub, smtp, force=True)
        assert fetch(served.port, expiring)[0] == 200
        assert isinstance(hub.clock, FixedClock)
        hub.clock.advance(timedelta(days=15))
        status, page = fetch(served.port, expiring)
        assert status == 410 and "This link has expired" in page and "Traceback" not in page

        # Not a form at all: a clear page.
        request = urllib.request.Request(f"http://127.0.0.1:{served.port}{expiring}", data=b"{}",
                                         headers={"Content-Type": "application/json"})
        try:
            OPENER.open(request, timeout=30)
            raise AssertionError("a JSON body was accepted")
        except urllib.error.HTTPError as error:
            with error:
                assert error.code == 400 and "This link is not valid" in error.read().decode()
    finally:
        assert served.stop() is False


# WCAG 2.1's contrast ratio of each visible text element against the first opaque background behind it.
CONTRAST = """() => {
  const rgb = text => text.match(/[0-9.]+/g).slice(0, 3).map(Number);
  const linear = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = c => { const [r, g, b] = c.map(linear); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const back = el => { for (; el; el = el.parentElement) { const c = getComputedStyle(el).backgroundColor;
                       if (!c.startsWith("rgba(0, 0, 0, 0)")) return rgb(c); } return [255, 255, 255]; };
  const ratio = el => { const a = lum(rgb(getComputedStyle(el).color)), b = lum(back(el));
                        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
  return [...document.querySelectorAll("h1, h2, p, label, legend, dt, dd, a, li, button, input")]
    .filter(el => el.offsetParent !== null).map(el => [el.tagName + "#" + el.id + "." + el.className, ratio(el)]);
}"""


@pytest.mark.usefixtures("browser")
def test_signed_with_the_keyboard_alone_and_every_text_contrasts(office: Hub, smtp: SmtpServer,
                                                                 tmp_path: Path) -> None:
    """WCAG 2.1 AA: everything reachable and operable by keyboard (the typed signature instead of the drawing),
    and every text at 4.5:1 or more against its background, the error page's too."""
    from playwright.sync_api import sync_playwright

    hub = office
    link = requested(hub, smtp)
    served = ServedApp(web_app(hub))
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                page = chromium.new_page(viewport=PHONE)
                page.goto(f"http://127.0.0.1:{served.port}{link}", wait_until="load")
                page.keyboard.press("Tab")
                assert page.evaluate("document.activeElement.className") == "switch"
                page.keyboard.press("Tab")
                assert page.evaluate("document.activeElement.id") == "birth_date"
                for _ in range(5):  # the date's month, day, year and picker are stops of their own
                    if page.evaluate("document.activeElement.id") != "birth_date":
                        break
                    page.keyboard.press("Tab")
                assert page.evaluate("document.activeElement.id") == "ssn_last4"
                page.keyboard.press("Enter")  # sent without the date, the signature or the consent
                page.wait_for_selector("#errors")
                low = [(what, ratio) for what, ratio in page.evaluate(CONTRAST) if ratio < 4.5]
                assert low == [], low
                page.focus("#birth_date")
                page.keyboard.type("04271958")
                order: list[str] = []
                for _ in range(12):  # to the button, typing into each field on the way
                    page.keyboard.press("Tab")
                    at = page.evaluate("document.activeElement.id")
                    if order and order[-1] == at:
                        continue  # the date's picker, a stop of its own
                    order.append(at)
                    if at in ("ssn_last4", "full_name", "signature"):
                        page.keyboard.type(SSN if at == "ssn_last4" else "Pat Example")
                    elif at == "consent":
                        page.keyboard.press("Space")
                    elif at == "":
                        break
                assert order[-6:] == ["ssn_last4", "full_name", "clear", "signature", "consent", ""], order
                assert order[:-6] in ([], ["birth_date"]), order
                assert page.evaluate("document.activeElement.type") == "submit"
                page.keyboard.press("Enter")
                page.wait_for_selector("text=Thank you: your release is signed")
                low = [(what, ratio) for what, ratio in page.evaluate(CONTRAST) if ratio < 4.5]
                assert low == [], low
            finally:
                chromium.close()
    finally:
        assert served.stop() is False
    with hub.sessions() as session:
        (release,) = session.scalars(select(Release))
        pdf = attachment_bytes(session, session.get_one(Attachment, release.attachment_id))
    assert pdf is not None
    flat = " ".join(pdf_text(pdf, tmp_path).split())
    assert "Pat Example (typed as signature)" in flat and f"Date of birth: {BIRTH}" in flat


def test_two_signings_at_once_by_one_link_record_one_release(office: Hub, smtp: SmtpServer) -> None:
    """A double tap on the button, or two tabs: one release, one PDF, one notice; the other sees it signed."""
    import threading

    hub = office
    path = requested(hub, smtp)
    form = {"lang": "en", "birth_date": BIRTH, "ssn_last4": SSN, "full_name": "Pat Example",
            "typed_signature": "Pat Example", "consent": "yes"}
    served = ServedApp(web_app(hub))
    answers: list[tuple[int, str]] = []
    start = threading.Barrier(2)

    def sign() -> None:
        start.wait()
        answers.append(fetch(served.port, path, form))
    try:
        threads = [threading.Thread(target=sign) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        assert served.stop() is False
    said = sorted("signed" if "Thank you: your release is signed" in page and "already" not in page else
                  "already" if "already signed with this link" in page else page for _, page in answers)
    assert said == ["already", "signed"], said
    with hub.sessions() as session:
        assert len(session.scalars(select(Release)).all()) == 1
        assert len(session.scalars(select(Attachment).where(Attachment.content_type == "application/pdf")).all()) == 1


def test_the_release_is_for_the_agency_the_case_has_when_it_is_signed(office: Hub, smtp: SmtpServer) -> None:
    """The letter went before the case had an agency; by the time Pat signs it is the VA's: the page asks what
    the VA needs (the claim number too), and the release covers the VA."""
    hub = office
    new_case(hub)
    notice = smtp.sent_to(MARIA)[0]
    from_staff(hub, answer(notice, MARIA, "#send privacy-release-request\n"))
    cycle(hub)
    found = LINK.search(text_of(smtp.sent_to(PAT)[-1]))
    assert found is not None
    from_staff(hub, answer(notice, MARIA, "#agency va\n"))
    cycle(hub)
    served = ServedApp(web_app(hub))
    try:
        status, page = fetch(served.port, found.group(1))
        assert status == 200 and "Department of Veterans Affairs" in page and 'id="claim_number"' in page
        status, page = fetch(served.port, found.group(1), {
            "lang": "en", "birth_date": BIRTH, "ssn_last4": SSN, "claim_number": "12345678",
            "full_name": "Pat Example", "typed_signature": "Pat Example", "consent": "yes"})
        assert status == 200 and "VA claim or file number" in page and "••••••78" in page and "12345678" not in page
    finally:
        assert served.stop() is False
    with hub.sessions() as session:
        (release,) = session.scalars(select(Release))
        assert release.scope == ["va"]
