"""`#attach` names files as `hub case files` lists them (names may hold spaces), or as their senders named them."""

from __future__ import annotations

import pytest

from hub.cases.case_files import CaseFile, files_named
from hub.cases.casework import CaseworkError


def file(attachment_id: int, name: str, filename: str = "") -> CaseFile:
    return CaseFile(attachment_id, name, "application/pdf", 100, True, "2026-11-23T14:00:00+00:00", 1,
                    filename or name)


FILES = [file(1, "award letter.pdf"), file(2, "award.pdf"), file(3, "scan.pdf"), file(4, "scan (2).pdf", "scan.pdf"),
         file(5, "release_.pdf", "release?.pdf")]


@pytest.mark.parametrize(("names", "ids"), [
    ("award letter.pdf", [1]),
    ("award.pdf award letter.pdf", [2, 1]),
    ("Award Letter.PDF, award.pdf;award.pdf", [1, 2]),
    ("scan (2).pdf scan.pdf", [4, 3]),
    ("release?.pdf", [5]),
])
def test_names_are_matched_longest_first(names: str, ids: list[int]) -> None:
    assert [found.attachment_id for found in files_named(FILES, names)] == ids


def test_a_name_shared_by_two_files_names_the_newest_by_its_senders_name() -> None:
    assert [found.attachment_id for found in files_named(FILES[2:4], "scan.pdf")] == [3]
    assert [found.attachment_id for found in files_named([file(4, "scan (2).pdf", "scan.pdf")], "scan.pdf")] == [4]


def test_an_unknown_name_is_refused_with_the_case_files() -> None:
    with pytest.raises(CaseworkError) as refused:
        files_named(FILES, "award.pdf my letter.pdf scan.pdf")
    assert str(refused.value) == ("#attach my letter.pdf: no file of that name on the case (its files: "
                                  "award letter.pdf, award.pdf, scan.pdf, scan (2).pdf, release_.pdf)")
    with pytest.raises(CaseworkError, match=r"^#attach a\.pdf: no file of that name on the case \(it has no files\)$"):
        files_named([], "a.pdf")
