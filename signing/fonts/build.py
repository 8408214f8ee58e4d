"""How DejaVuSans-Latin.ttf was made (run again only to change the coverage).

Source: DejaVu Sans 2.37 as shipped by Debian's fonts-dejavu-core 2.37-6
(/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf), licence in LICENSE.

Two changes, both for pyHanko's GlyphAccumulator:
- units per em 2048 -> 1000. The accumulator writes glyph widths in font units
  while PDF reads them per 1000 em, so a 2048-unit font renders letter-spaced;
- only the Latin, punctuation and currency ranges, without hinting: the
  accumulator parses and subsets the whole file on every visible signature,
  and 0.7 MB of Greek, Cyrillic, Arabic and symbols made that the slowest step.

    python signing/fonts/build.py /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
"""

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem

RANGES = [
    (0x0020, 0x007E),  # Basic Latin
    (0x00A0, 0x024F),  # Latin-1 Supplement, Latin Extended-A and -B
    (0x0250, 0x02FF),  # IPA extensions, spacing modifier letters
    (0x0300, 0x036F),  # combining diacritical marks
    (0x1E00, 0x1EFF),  # Latin Extended Additional
    (0x2000, 0x206F),  # general punctuation
    (0x20A0, 0x20CF),  # currency symbols
    (0x2100, 0x214F),  # letterlike symbols (numero, trade mark)
    (0x2190, 0x2199),  # arrows
    (0x2212, 0x2212),  # minus sign
    (0x2C60, 0x2C7F),  # Latin Extended-C
    (0xA720, 0xA7FF),  # Latin Extended-D
    (0xFB00, 0xFB06),  # Latin ligatures
    (0xFFFD, 0xFFFD),  # replacement character
]

OUTPUT = Path(__file__).with_name("DejaVuSans-Latin.ttf")


def build(source: str) -> None:
    font = TTFont(source)
    options = subset.Options()
    options.hinting = False
    options.desubroutinize = True
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.drop_tables += ["MATH", "FFTM"]
    options.layout_features = ["kern", "liga", "ccmp", "locl", "mark", "mkmk"]
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(unicodes=[c for lo, hi in RANGES for c in range(lo, hi + 1)])
    subsetter.subset(font)
    scale_upem(font, 1000)
    font.save(OUTPUT)


if __name__ == "__main__":
    build(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
