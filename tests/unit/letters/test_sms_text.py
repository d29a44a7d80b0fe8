"""What a text costs: GSM-7 and UCS-2 segments counted as carriers bill them, trimming, and GSM-7 lookalikes."""

from __future__ import annotations

import pytest

from hub.letters.sms_text import (
    GSM_EXTENSION,
    GSM_LOOKALIKES,
    WORD_BOUNDARY_REACH,
    Segments,
    gsm7_safe,
    segments,
    to_gsm7,
    trim_to_segments,
)

KANA = "ア"    # one UTF-16 unit, not GSM-7
EMOJI = "😀"   # two UTF-16 units (a surrogate pair)


@pytest.mark.parametrize(("text", "count", "units"), [
    ("", 1, 0),
    ("a", 1, 1),
    ("a" * 160, 1, 160),
    ("a" * 161, 2, 161),
    ("a" * 153 * 2, 2, 306),
    ("a" * (153 * 2 + 1), 3, 307),
    ("a" * 153 * 10, 10, 1530),
])
def test_gsm7_segments_at_the_boundaries(text: str, count: int, units: int) -> None:
    assert segments(text) == Segments("GSM-7", count, units, ())


@pytest.mark.parametrize(("text", "count", "units"), [
    (KANA * 70, 1, 70),
    (KANA * 71, 2, 71),
    (KANA * 67 * 2, 2, 134),
    (KANA * (67 * 2 + 1), 3, 135),
    (EMOJI * 35, 1, 70),
    (EMOJI * 36, 2, 72),
])
def test_ucs2_segments_at_the_boundaries(text: str, count: int, units: int) -> None:
    cost = segments(text)
    assert (cost.encoding, cost.count, cost.units) == ("UCS-2", count, units)


def test_extension_characters_cost_two_septets() -> None:
    assert GSM_EXTENSION == frozenset("^{}\\[~]|€\f")
    for char in GSM_EXTENSION:
        assert segments(char) == Segments("GSM-7", 1, 2, ())
    assert segments("€" * 80).count == 1
    assert segments("€" * 80 + "a").count == 2


def test_an_escape_pair_never_straddles_two_parts() -> None:
    # 306 septets would fill two parts exactly, but the pair cannot start at septet 153 of the first.
    text = "a" * 152 + "{" + "a" * 152
    assert segments(text) == Segments("GSM-7", 3, 306, ())
    assert segments("a" * 151 + "{" + "a" * 153).count == 2  # the pair ends the first part exactly


def test_a_surrogate_pair_never_straddles_two_parts() -> None:
    text = KANA * 66 + EMOJI + KANA * 66
    cost = segments(text)
    assert (cost.units, cost.count) == (134, 3)
    assert segments(KANA * 65 + EMOJI + KANA * 67).count == 2


def test_unsafe_lists_each_character_that_forced_ucs2_once_in_order() -> None:
    text = "Don’t worry — it’s fine 😀 {ok}"
    assert segments(text).unsafe == ("’", "—", "😀")
    assert segments("Hello {world} €5 @ £3 é ñ").unsafe == ()


def test_gsm7_safe() -> None:
    assert gsm7_safe("")
    assert gsm7_safe("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà^{}\\[~]|€\f")
    for char in ("’", "—", "…", "\u00a0", "ç", "á", "\x1b", "`", EMOJI):
        assert not gsm7_safe(f"ok {char}"), char


def test_a_text_that_fits_is_not_trimmed() -> None:
    assert trim_to_segments("Hello there", 1) == ("Hello there", "")
    assert trim_to_segments("a" * 306, 2) == ("a" * 306, "")
    assert trim_to_segments("", 1) == ("", "")


def test_a_trimmed_text_is_cut_at_a_word_boundary() -> None:
    text = "The agency has restarted your payments. " * 10
    kept, cut = trim_to_segments(text, 1)
    assert kept.endswith("...") and segments(kept).count == 1 and len(kept) > 160 - WORD_BOUNDARY_REACH
    body = kept.removesuffix("...")
    assert text.startswith(body + " ")  # the last word kept is whole
    assert text == f"{body} {cut}"


def test_trailing_spaces_alone_are_not_worth_an_ellipsis() -> None:
    assert trim_to_segments("a" * 160 + "   ", 1) == ("a" * 160, "")


def test_a_word_longer_than_the_reach_is_cut_inside() -> None:
    text = "See https://example.gov/" + "x" * 300
    kept, cut = trim_to_segments(text, 1)
    assert len(kept) == 160 and kept.endswith("...")
    assert kept[:-3] + cut == text


def test_the_ellipsis_is_counted() -> None:
    kept, _ = trim_to_segments("a" * 200, 1, ellipsis=" [more]")  # [ and ] cost two septets each
    assert segments(kept).units == 160 and kept.endswith(" [more]")
    kept, _ = trim_to_segments("a" * 200, 1, ellipsis="…")  # a UCS-2 ellipsis makes the whole text UCS-2
    assert kept == "a" * 69 + "…"


def test_cutting_the_only_ucs2_characters_gives_gsm7_limits() -> None:
    text = "a" * 200 + " Don’t"
    kept, cut = trim_to_segments(text, 1)
    assert segments(kept).encoding == "GSM-7" and len(kept) == 160
    assert cut.endswith("Don’t")


def test_trimming_never_splits_an_emoji() -> None:
    doctor = "👩\u200d⚕️"  # woman, joiner, staff of Aesculapius, emoji presentation: 5 UTF-16 units
    text = "a" * 60 + doctor * 20
    kept, cut = trim_to_segments(text, 1)
    # 67 units would fit with the ellipsis, but they end inside the second doctor.
    assert kept == "a" * 60 + doctor + "..."
    assert cut == doctor * 19


@pytest.mark.parametrize("filler", ["word ", "a{b ", "it’s ", "ok 😀 ", "x", "tab\t"])
@pytest.mark.parametrize("max_segments", [1, 2, 3])
def test_a_trimmed_text_is_always_within_the_limit(filler: str, max_segments: int) -> None:
    for length in range(0, 700, 7):
        text = (filler * 700)[:length]
        kept, cut = trim_to_segments(text, max_segments)
        assert segments(kept).count <= max_segments, (length, kept)
        if not cut:
            assert text.startswith(kept) and not text[len(kept):].strip()
            continue
        body = kept.removesuffix("...")
        assert body == body.rstrip() and text.startswith(body) and text.endswith(cut)
        assert not text[len(body):len(text) - len(cut)].strip(), "only the spaces at the cut are dropped"
        # No more than a word boundary's reach was given up.
        longer = text[:len(body) + WORD_BOUNDARY_REACH + 1].rstrip() + "..."
        assert segments(longer).count > max_segments, (length, kept)


def test_trimming_a_few_thousand_characters_is_quick() -> None:
    text = "The agency has written to us about your case. " * 100
    kept, cut = trim_to_segments(text, 3)
    assert segments(kept).count == 3 and len(cut) > 4000


def test_trimming_to_no_segments_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        trim_to_segments("Hello", 0)


def test_to_gsm7_replaces_what_word_and_outlook_paste() -> None:
    pasted = "\u201cDon\u2019t worry\u201d \u2013 it\u2018s done\u2014really\u2026\u00a0\u2022 next"
    assert to_gsm7(pasted) == '"Don\'t worry" - it\'s done-really... - next'
    assert gsm7_safe(to_gsm7(pasted))
    assert all(gsm7_safe(value) for value in GSM_LOOKALIKES.values())
    assert to_gsm7("José, Ça va? ç á 😀 {ok}") == "José, Ça va? ç á 😀 {ok}"  # everything else is left alone


def test_one_curly_apostrophe_no_longer_triples_the_cost() -> None:
    text = "We heard from the agency today. " * 4 + "It\u2019s good news."
    assert segments(text).count == 3 and segments(to_gsm7(text)).count == 1
