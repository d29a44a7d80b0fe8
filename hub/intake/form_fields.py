"""The fields of a web form's notification: each label the form uses, and the value written beside it.

Two layouts cover the form plugins offices use. Plain text, "Label: value" a line, where a message or an
address runs on over the following lines until the next label (or a `--` signature line), and a label
alone on its line has its value on the next. HTML tables, read with the stdlib's HTML parser: a row whose
first cell is a label and whose other cells are its value (`<th>Label</th><td>value</td>`), or a row
holding only a label and the next row its value (Gravity Forms' `{all_fields}`). Labels match whatever
their case, spacing, trailing colon or required-field asterisk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Fields whose value may span lines; the values of several labels mapped to one of them are joined.
MULTILINE = frozenset({"message", "address"})
JOINED = {"name": " ", "address": "\n", "message": "\n\n"}
LABEL_LINE = re.compile(r"^[ \t>*_]*([^:\n]{1,80}?)[ \t*_]*:[ \t]*(.*)$")
SIGNATURE_LINE = re.compile(r"^-- ?$")
REQUIRED = re.compile(r"\s*(\*|\(required\))\s*$", re.I)
BLOCKS = frozenset({"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})
MAX_FIELD = 100_000  # a value past this is not a form field any more, only text (and PostgreSQL's cost)


def normalised(label: str) -> str:
    """A label as it is matched: lower-case, single-spaced, without a trailing colon or required marker."""
    text = " ".join(label.split()).strip(" :")
    return REQUIRED.sub("", text).strip(" :").casefold()


def read_fields(text: str, html: str, labels: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """The value of each field whose label the notification has: from its HTML tables or its text, whichever
    reads more fields (the text when they read as many)."""
    index: dict[str, str] = {}
    for name, names in labels.items():
        for label in names:
            index.setdefault(normalised(label), name)
    from_text = _assemble(_text_pairs(text, index), labels)
    from_html = _assemble(_html_pairs(html, index), labels) if html else {}
    return from_html if len(from_html) > len(from_text) else from_text


def _assemble(pairs: dict[str, str], labels: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Each field's value from its labels' values: joined for a name, address or message spread over
    several labels, else the first label found."""
    fields: dict[str, str] = {}
    for name, names in labels.items():
        found = [pairs[label] for label in dict.fromkeys(map(normalised, names)) if pairs.get(label)]
        if found:
            fields[name] = (JOINED[name].join(found) if name in JOINED else found[0])[:MAX_FIELD]
    return fields


def _text_pairs(text: str, index: Mapping[str, str]) -> dict[str, str]:
    """(normalised label, value) for each known label of a plain-text notification, the first of each."""
    pairs: dict[str, list[str]] = {}
    current: str | None = None  # the label whose value the next lines may continue
    for line in text.replace("\r\n", "\n").split("\n"):
        found = LABEL_LINE.match(line)
        label = normalised(found.group(1)) if found else ""
        if found and label in index and label not in pairs:
            pairs[label] = [found.group(2).strip(" \t*_")]
            current = label
            continue
        if current is None:
            continue
        value = pairs[current]
        if index[current] in MULTILINE:
            if SIGNATURE_LINE.match(line):
                current = None
            else:
                value.append(line.rstrip())
        elif not value[0] and line.strip() and not found:
            value[0], current = line.strip(), None  # "Label:" alone, its value on the next line
        elif line.strip():
            current = None
    return {label: "\n".join(lines).strip() for label, lines in pairs.items()}


@dataclass
class _Table:
    row: list[list[str]] | None = None   # the open row's cells, each a list of text pieces
    rows: list[list[str]] = field(default_factory=list)


class _Tables(HTMLParser):
    """The rows of every table in a document, innermost tables first, as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._open: list[_Table] = []
        self._skipping = 0  # inside <script> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skipping += 1
        elif tag == "table":
            self._open.append(_Table())
        elif not self._open:
            return
        elif tag == "tr":
            self._end_row()
            self._open[-1].row = []
        elif tag in ("td", "th"):
            table = self._open[-1]
            if table.row is None:
                table.row = []
            table.row.append([])
        elif tag == "br" or tag in BLOCKS:
            self._add("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skipping = max(0, self._skipping - 1)
        elif tag == "table" and self._open:
            self._end_row()
            self.rows.extend(self._open.pop().rows)
        elif tag == "tr" and self._open:
            self._end_row()
        elif tag in BLOCKS:
            self._add("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._add(" ".join(data.split("\n")))

    def close(self) -> None:
        super().close()
        while self._open:
            self.handle_endtag("table")

    def _add(self, text: str) -> None:
        if self._open and self._open[-1].row:
            self._open[-1].row[-1].append(text)

    def _end_row(self) -> None:
        table = self._open[-1]
        if table.row is not None:
            table.rows.append([_cell_text(pieces) for pieces in table.row])
            table.row = None


def _cell_text(pieces: list[str]) -> str:
    """A cell's text: spaces collapsed within lines, at most one blank line between paragraphs."""
    lines = [" ".join(line.replace("\xa0", " ").split()) for line in "".join(pieces).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _html_pairs(html: str, index: Mapping[str, str]) -> dict[str, str]:
    parser = _Tables()
    parser.feed(html)
    parser.close()
    pairs: dict[str, str] = {}
    waiting: str | None = None  # a label alone in its row: the next row holds its value
    for cells in parser.rows:
        filled = [cell for cell in cells if cell]
        label = normalised(cells[0]) if cells else ""
        if len(cells) >= 2 and label in index:
            pairs.setdefault(label, "\n".join(cells[1:]).strip())
            waiting = None
        elif len(filled) == 1 and normalised(filled[0]) in index:
            waiting = normalised(filled[0])
        elif waiting is not None:
            pairs.setdefault(waiting, "\n".join(filled))
            waiting = None
    return pairs
