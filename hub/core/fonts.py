"""Where the TrueType fonts for PDFs of any script are: DejaVu Sans (Debian's fonts-dejavu-core: Latin, Greek,
Cyrillic, Vietnamese, …) and Droid Sans Fallback (fonts-droid-fallback) for Chinese, Japanese and Korean.
Used by the case timeline (hub.transfer.timeline) and the signed privacy release (hub.letters.release_pdf)."""

from __future__ import annotations

from pathlib import Path

FONT_FOLDERS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF",
                "/usr/local/share/fonts", "/usr/share/fonts/dejavu-sans-fonts")
FALLBACK_FONTS = ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
                  "/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf",
                  "/usr/share/fonts/google-droid-sans-fonts/DroidSansFallbackFull.ttf")


def unicode_fonts() -> tuple[Path, Path, Path | None] | None:
    """(regular, bold, fallback for CJK or None) when DejaVu Sans is installed."""
    for folder in map(Path, FONT_FOLDERS):
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            fallback = next((Path(p) for p in FALLBACK_FONTS if Path(p).is_file()), None)
            return regular, bold, fallback
    return None
