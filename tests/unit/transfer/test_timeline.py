"""The PDF timeline of an exported case, read back with pdftotext: every name in its own script, the
messages in time order, and a plain Helvetica PDF for a case that needs nothing more."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hub.core import fonts
from hub.transfer import timeline

CASE: dict[str, Any] = {
    "ref": "CW-26-00042-K7", "status": "pending-agency", "agency": "state", "assignee": "maria.lopez@doe.example.gov",
    "subject": "Passport renewal", "opened_at": "2026-11-23T14:00:00+00:00", "closed_at": None,
    "close_reason": None, "merged_into": None, "former_refs": ["NC-25-01234-AB"],
    "constituent": {"name": "Nguyễn Văn An", "email": "an@example.com", "phone": None, "address": None,
                    "contacts": [{"kind": "phone", "value": "+19195550142"}]}}


def message(at: str, body: str, sender_name: str = "Nguyễn Văn An") -> dict[str, Any]:
    return {"at": at, "direction": "in", "channel": "email", "kind": "constituent", "sender": "an@example.com",
            "sender_name": sender_name, "recipients": ["casework@doe.example.gov"], "subject": "Passport renewal",
            "body": body, "full_text": body, "attachments": [{"filename": "form.pdf", "size": 2048}]}


MESSAGES = [message("2026-11-24T10:00:00+00:00", "Second: “any news?” — thanks"),
            message("2026-11-23T14:00:00+00:00", "First: my cousin 王小明 travels with me.")]
EVENTS = [{"kind": "assigned", "detail": "to Maria Lopez", "actor": "hub", "via": "rule",
           "at": "2026-11-23T14:01:00+00:00"}]
REMINDERS = [{"kind": "checkin", "due_at": "2026-12-07T14:00:00+00:00", "state": "pending", "note": "",
              "closed_by": ""}]


def text_of(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is missing (Debian: poppler-utils; scripts/test.sh installs it)")
    (tmp_path / "t.pdf").write_bytes(pdf)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(tmp_path / "t.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout


def render(case: dict[str, Any] = CASE, messages: list[dict[str, Any]] = MESSAGES) -> bytes:
    return timeline.render(case, messages, EVENTS, REMINDERS, [], "Office of Jane Doe", "America/New_York")


def test_every_name_in_its_own_script_and_everything_in_time_order(tmp_path: Path) -> None:
    text = text_of(render(), tmp_path)
    for expected in ("Case CW-26-00042-K7", "Status: pending-agency", "Agency: state", "Nguyễn Văn An",
                     "an@example.com, +19195550142", "Assignee: maria.lopez@doe.example.gov",
                     "Opened: 2026-11-23 09:00 EST", "Former references: NC-25-01234-AB", "王小明",
                     "“any news?” — thanks", "Files: form.pdf (2,048 bytes)"):
        assert expected in text, expected
    order = [text.index(part) for part in ("First: my cousin", "event assigned", "Second:", "reminder checkin due")]
    assert order == sorted(order)


def test_a_latin_case_is_plain_helvetica_and_without_dejavu_others_say_what_they_lose(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    latin = CASE | {"constituent": CASE["constituent"] | {"name": "José Álvarez"}}
    pdf = render(latin, [message("2026-11-23T14:00:00+00:00", "“Quoted” — dashes", "José Álvarez")])
    assert b"/Helvetica" in pdf and b"DejaVu" not in pdf
    text = text_of(pdf, tmp_path)
    assert "José Álvarez" in text and '"Quoted" -- dashes' in text

    monkeypatch.setattr(fonts, "FONT_FOLDERS", ())
    text = text_of(render(), tmp_path)
    assert text.startswith(f"Note: {timeline.NO_UNICODE_FONT[:40]}")
    assert "Nguy?n V?n An" in text and "my cousin ??? travels" in text
