"""Which encoding a JSON Lines file is in: UTF-8, GB18030 (GBK), Big5, or UTF-16 with or without a BOM.

Decoding validity alone cannot tell GB18030 from Big5: almost every Big5 byte pair is a valid GBK pair (and the
reverse for GB2312 text), so the wrong choice yields fluent-looking mojibake with no error. Each candidate is
therefore decoded and scored by how many of its Chinese characters are common ones: the 3,755 characters of
GB2312 level 1 and the 5,401 of Big5's frequently-used table (both scripts, so Traditional text in GB18030 and
Simplified text in Big5 score alike). A right decoding scores ~0.97 and more on real text; a wrong one
0.3-0.6. `bench/encoding_eval.py` measures it against charset-normalizer on the shared corpora.

UTF-16 shows itself by NUL bytes, which UTF-8, GBK and Big5 JSON never contain (JSON escapes U+0000): ASCII
structure (`{"text": ...}`, newlines) puts them on odd offsets in little-endian and even ones in big-endian.
"""

from __future__ import annotations

import codecs
import functools
from dataclasses import dataclass

import numpy as np

# Python codec names; `big5hkscs` is Big5 plus the Hong Kong and ETEN extensions that real Big5 files use.
UTF8, GB18030, BIG5, UTF16 = "utf-8", "gb18030", "big5hkscs", "utf-16"
UTF16_LE, UTF16_BE = "utf-16-le", "utf-16-be"
LEGACY = (GB18030, BIG5)
NAMES = {GB18030: "GBK/GB18030", BIG5: "Big5", UTF16: "UTF-16", UTF16_LE: "UTF-16LE", UTF16_BE: "UTF-16BE"}
CONFIG_NAME = {UTF8: "utf-8", GB18030: "gb18030", BIG5: "big5", UTF16: "utf-16", UTF16_LE: "utf-16", UTF16_BE: "utf-16"}
MIN_COMMON = 0.8  # a legacy decoding below this share of common characters is not trusted
_STRUCTURE = np.frombuffer(b'{":, \n', np.uint8)  # not `}`: 紀 (U+7D00) is NUL + `}` in little-endian


@dataclass(frozen=True)
class Guess:
    encoding: str | None  # a Python codec name, or None: none of the candidates decodes the sample plausibly
    common: float = 1.0  # share of common characters among the non-ASCII ones decoded (legacy encodings)
    detail: str = ""


@functools.cache
def common_chars() -> frozenset[str]:
    """GB2312 level 1 (rows B0-D7) and Big5 frequently-used characters (A440-C67E), plus the punctuation rows
    of both (A1-A3), decoded by Python's own codecs."""
    out: set[str] = set()
    for lead in range(0xA1, 0xD8):
        if 0xA4 <= lead < 0xB0:
            continue  # GB2312 kana, Greek, Cyrillic ... rows: what Big5 bytes turn into
        for trail in range(0xA1, 0xFF):
            out.update(_decoded(bytes((lead, trail)), "gb2312"))
    for lead in range(0xA1, 0xC7):
        for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
            if lead == 0xC6 and trail > 0x7E:
                break
            out.update(_decoded(bytes((lead, trail)), "big5"))
    return frozenset(out)


def _decoded(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return ""


def utf16_order(sample: bytes) -> str | None:
    """UTF-16 with a BOM; without one, when the JSON structure characters (`{ " : , \\n` and space) come as
    ASCII byte + NUL (little-endian) or NUL + ASCII byte (big-endian) at even offsets. Counting plain NULs is not
    enough: 一 (U+4E00), the commonest character of all, is a NUL byte on the other side."""
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not sample.startswith(codecs.BOM_UTF32_LE):
        return UTF16
    if b"\x00" not in sample:
        return None
    head = np.frombuffer(sample[: (min(len(sample), 1 << 16) // 2) * 2], np.uint8).reshape(-1, 2)
    structure = np.isin(head, _STRUCTURE)
    little = int(np.count_nonzero(structure[:, 0] & (head[:, 1] == 0)))
    big = int(np.count_nonzero(structure[:, 1] & (head[:, 0] == 0)))
    if little >= 4 and little > 4 * big:
        return UTF16_LE
    if big >= 4 and big > 4 * little:
        return UTF16_BE
    return None


def common_share(text: str) -> tuple[float, int]:
    """(share of common characters, count) over the non-ASCII characters of `text`."""
    chars = [c for c in text if c > "\x7f" and not c.isspace()]
    if not chars:
        return 1.0, 0
    common = common_chars()
    return sum(c in common for c in chars) / len(chars), len(chars)


def guess_legacy(lines: list[bytes]) -> Guess:
    """GB18030 or Big5 for lines that are not UTF-8: the candidate whose decoding is most plausible. A line the
    candidate cannot decode at all counts as wholly implausible."""
    best = Guess(None, 0.0, "")
    scores = []
    for enc in LEGACY:
        good = total = 0.0
        for line in lines:
            try:
                text = line.decode(enc)
            except UnicodeDecodeError:
                total += max(1, len(line) // 2)
                continue
            share, n = common_share(text)
            good += share * n
            total += n
        share = good / total if total else 0.0
        scores.append(f"{NAMES[enc]} {share:.2f}")
        if share > best.common:
            best = Guess(enc, share)
    detail = ", ".join(scores)
    if best.encoding is None or best.common < MIN_COMMON:
        return Guess(None, best.common, detail)
    return Guess(best.encoding, best.common, detail)


def sniff(sample: bytes, complete: bool) -> Guess:
    """The encoding of a JSON Lines file from its first bytes (`complete`: the sample is the whole file).

    UTF-16 first (NUL bytes), then UTF-8 if the sample decodes strictly; otherwise every line with non-ASCII
    bytes votes: UTF-8 wins when at least half of them decode as UTF-8 (the others are rejected later as
    `read.invalid_utf8`); else the legacy encoding whose decoding of the losing lines is plausible.
    """
    order = utf16_order(sample)
    if order is not None:
        try:
            codecs.getincrementaldecoder(order)().decode(sample, final=complete)
            return Guess(order)
        except UnicodeDecodeError as e:
            return Guess(None, 0.0, f"NUL bytes as in {NAMES[order]}, but invalid {NAMES[order]} at byte {e.start}")
    try:
        codecs.getincrementaldecoder(UTF8)().decode(sample, final=complete)
        return Guess(UTF8)
    except UnicodeDecodeError as e:
        first_bad = e.start
    lines = sample.split(b"\n")
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # possibly cut in the middle
    plain = utf8 = 0
    bad: list[bytes] = []
    for line in lines:
        if not line.strip():
            continue
        if line.isascii():
            plain += 1
            continue
        try:
            line.decode(UTF8)
            utf8 += 1
        except UnicodeDecodeError:
            bad.append(line)
    if utf8 >= len(bad):
        return Guess(UTF8)
    legacy = guess_legacy(_cap(bad, 256 << 10))
    if legacy.encoding is None and plain + utf8:
        return Guess(UTF8, detail=legacy.detail)  # some good lines: the others are rejected as invalid_utf8
    if legacy.encoding is None:
        return Guess(None, legacy.common, f"first invalid UTF-8 byte at offset {first_bad}; {legacy.detail}")
    return legacy


def _cap(lines: list[bytes], nbytes: int) -> list[bytes]:
    out, n = [], 0
    for line in lines:
        out.append(line)
        n += len(line)
        if n >= nbytes:
            break
    return out
