"""A case as a PDF for people: its header (reference, status, agency, constituent, assignee, opened and
closed), then every message, event, release and reminder in time order with who, when, the subject and the
new text.

Names and messages come in every script, and the PDF core fonts know Latin-1 only. A case whose text is
Latin-1 (once typographic quotes and dashes are written plainly) is set in Helvetica, which costs nothing to
load or embed; any other in a TrueType font: DejaVu Sans (Debian's fonts-dejavu-core: Latin, Greek, Cyrillic,
Vietnamese, …), with Droid Sans Fallback (fonts-droid-fallback) for Chinese, Japanese and Korean when it is
installed and the case needs it. Without DejaVu such a case is still written, in Helvetica, with every other
character shown as "?" and a line at the top that says so.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fontTools.ttLib import TTFont
from fpdf import FPDF

from hub.core.fonts import unicode_fonts

NO_UNICODE_FONT = ("DejaVu Sans is not installed (Debian: fonts-dejavu-core), so characters outside Latin-1 "
                   "are shown as ? in the PDF timelines; the messages and JSON keep every character")
MAX_TEXT = 20_000  # characters of one message in the timeline; the .eml beside it has all of it
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@functools.cache
def _covered(path: Path) -> frozenset[int]:
    """The characters a font has glyphs for (read once: loading the CJK fallback costs half a second a PDF, so it
    is loaded only for a case that needs it)."""
    with TTFont(path, lazy=True) as font:
        return frozenset(font["cmap"].getBestCmap())


class _Timeline(FPDF):
    """Helvetica (a core font: nothing to load or embed, four times quicker) when the case's text is Latin-1 once
    typographic quotes and dashes are written plainly, as most are; DejaVu Sans otherwise, with the CJK fallback
    only when a character needs it."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__(format="letter")
        self.set_auto_page_break(True, margin=15)
        self.family, self.core, self.lossy = "helvetica", True, False
        if all(_is_latin1(text.translate(_PLAIN)) for text in texts):
            return
        fonts = unicode_fonts()
        if fonts is None:
            self.lossy = True
            return
        regular, bold, fallback = fonts
        self.family, self.core = "dejavu", False
        self.add_font("dejavu", fname=str(regular))
        self.add_font("dejavu", style="B", fname=str(bold))
        covered = _covered(regular)
        if fallback is not None and any(ord(c) not in covered for text in texts for c in text if c > "\x7f"):
            self.add_font("fallback", fname=str(fallback))
            self.set_fallback_fonts(["fallback"])

    def text_line(self, text: str, size: int = 10, bold: bool = False, gap: float = 0) -> None:
        self.set_font(self.family, "B" if bold else "", size)
        self.multi_cell(0, size * 0.5, self._printable(text), new_x="LMARGIN", new_y="NEXT")
        if gap:
            self.ln(gap)

    def _printable(self, text: str) -> str:
        text = _CONTROL.sub("", text.replace("\t", "    ").replace("\r\n", "\n").replace("\r", "\n"))
        if self.core:
            return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")
        return text


# Typography the core fonts lack, written plainly.
_PLAIN = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'", "\u201a": "'",
                        "\u2013": "-", "\u2014": "--", "\u2026": "...", "\u2022": "*", "\u20ac": "EUR",
                        "\u2122": "(TM)", "\u200b": "", "\ufeff": "", "\u2212": "-"})


def _is_latin1(text: str) -> bool:
    return all(c <= "\xff" for c in text)


def render(case: dict[str, Any], messages: Iterable[dict[str, Any]], events: list[dict[str, Any]],
           reminders: list[dict[str, Any]], releases: list[dict[str, Any]], office: str, timezone: str) -> bytes:
    """The PDF of one case, from the plain data of hub.transfer.case_record."""
    zone = ZoneInfo(timezone)
    header = _header(case, office, zone)
    entries = [(m["at"], 0, _message(m, zone)) for m in messages]
    entries += [(e["at"], 1, [(f"{_when(e['at'], zone)}  event {e['kind']}, by {e['actor']} ({e['via']})", False),
                              (e["detail"], None)]) for e in events]
    entries += [(r["created_at"], 2, [(f"{_when(r['created_at'], zone)}  privacy release signed {r['signed_on']}, "
                                       f"received {r['received_on']} ({r['method']}); agencies: "
                                       f"{', '.join(r['scope']) or 'all'}", False)]) for r in releases]
    entries += [(r["due_at"], 3, [(f"{_when(r['due_at'], zone)}  reminder {r['kind']} due ({r['state']}"
                                   f"{', ' + r['closed_by'] if r['closed_by'] else ''})", False),
                                  (r["note"], None)]) for r in reminders]
    entries.sort(key=lambda entry: (entry[0] or "", entry[1]))
    pdf = _Timeline([*header, *(text for _, _, lines in entries for text, _ in lines)])
    pdf.set_title(f"Case {case['ref']}")
    pdf.add_page()
    if pdf.lossy:
        pdf.text_line(f"Note: {NO_UNICODE_FONT}.", size=8, gap=2)
    pdf.text_line(f"Case {case['ref']}", size=16, bold=True, gap=2)
    for line in header:
        pdf.text_line(line)
    pdf.ln(4)
    pdf.text_line("Timeline", size=13, bold=True, gap=1)
    for _, _, lines in entries:
        for text, bold in lines:
            if text:
                pdf.text_line(text, size=10 if bold is not None else 9, bold=bool(bold))
        pdf.ln(2)
    return bytes(pdf.output())


def _header(case: dict[str, Any], office: str, zone: ZoneInfo) -> list[str]:
    person = case["constituent"] or {}
    contacts = [person.get("email"), person.get("phone"), *(c["value"] for c in person.get("contacts", []))]
    closed = "not closed"
    if case["closed_at"]:
        closed = f"{_when(case['closed_at'], zone)} ({case['close_reason'] or 'closed'})"
    lines = [f"Subject: {case['subject']}", f"Status: {case['status']}", f"Agency: {case['agency'] or 'none'}",
             f"Constituent: {person.get('name') or 'none'}  {', '.join(c for c in contacts if c)}",
             f"Assignee: {case['assignee'] or 'none'}", f"Opened: {_when(case['opened_at'], zone)}",
             f"Closed: {closed}"]
    if person.get("address"):
        lines.insert(4, f"Address: {person['address']}")
    if case.get("merged_into"):
        lines.append(f"Merged into: {case['merged_into']}")
    if case.get("former_refs"):
        lines.append(f"Former references: {', '.join(case['former_refs'])}")
    return [*lines, f"Exported from {office}"]


def _message(message: dict[str, Any], zone: ZoneInfo) -> list[tuple[str, bool | None]]:
    who = f"{message['sender_name']} <{message['sender']}>" if message["sender_name"] else message["sender"]
    text = message["body"] or message["full_text"] or ""
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "\n[… the rest is in the message's .eml]"
    files = ", ".join(f"{a['filename']} ({a['size']:,} bytes)" for a in message["attachments"])
    lines: list[tuple[str, bool | None]] = [
        (f"{_when(message['at'], zone)}  {'received' if message['direction'] == 'in' else 'sent'} "
         f"{message['channel']}, {message['kind']}", True),
        (f"From: {who}", False), (f"To: {', '.join(message['recipients'])}", False),
        (f"Subject: {message['subject']}", False) if message["subject"] else ("", None), (text, None)]
    return lines + ([(f"Files: {files}", False)] if files else [])


def _when(moment: str | None, zone: ZoneInfo) -> str:
    if not moment:
        return "none"
    return datetime.fromisoformat(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
