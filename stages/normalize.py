"""`normalize`: Unicode, whitespace and PII clean-up, the first stage of every Chinese recipe.

Defaults are what a Chinese pre-training corpus wants:
- NFKC, so full-width letters and digits (`ＡＢＣ１２３`), compatibility ideographs and odd spaces (U+3000,
  NBSP) become their plain forms and later stages (dedup keys, PII patterns, langid) see one spelling.
- `keep_cjk_punct`: but NFKC also turns the Chinese sentence punctuation `，！？：；（）～` into ASCII and
  the ellipsis `……` into `......`. Those full-width marks are the correct typography of Chinese prose (GB/T
  15834) and what a model should learn to write, so they are kept exactly as the author wrote them;
  ASCII punctuation typed into Chinese text is left alone too (rewriting it would also rewrite code and
  numbers). Other full-width symbols (`＠＃％＋／．`) still become ASCII, so `ｘ＠ｑｑ．ｃｏｍ` is an e-mail.
- Control and invisible characters go (zero-width space, BOM, soft hyphen, bidi overrides); `\\n` and
  `\\t` stay; `\\r\\n`, `\\r`, vertical tab, form feed and U+2028/9 become `\\n`.
- Whitespace: runs of two or more spaces/tabs become one space (a lone tab stays), lines are stripped at
  both ends (the `　　` paragraph indent of Chinese news is layout, not content), more than
  `max_blank_lines` blank lines collapse, the document is trimmed. Turn `whitespace` off for code.
- `t2s` is off: Traditional Chinese is valuable training text; dedup and decontamination fold scripts on
  their own match keys (`stages.chinese.fold`). Turn it on for a Simplified-only model.
- PII is redacted by default into placeholders: mainland ID numbers (province code, real birth date, check
  character), mobile numbers (allotted prefixes; `+86`, spaces, dashes or dots, grouped 3-4-4 or 4-3-4),
  e-mail, IPv4/IPv6, and payment cards (an issuing network's IIN prefix and length, Luhn). A number is only a
  card when it is not built like an ID number and not labelled as an order, parcel or product code: one
  Luhn-valid number in ten would otherwise be a "card". IDs and cards are also found grouped by spaces or
  dashes. Counts per kind go to the stats as `pii.<kind>` and `_pii` holds the number of redactions per
  document (a document full of phone numbers is usually an ad). `tests/stages/pii_cases.py` generates the
  planted set and look-alikes that measure recall and false redactions.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from stages.base import Mapper
from stages.core.arrow import set_column

PiiKind = Literal["id_card", "mobile", "email", "ip", "bank_card"]
ALL_PII: tuple[str, ...] = ("id_card", "mobile", "email", "ip", "bank_card")
PLACEHOLDERS = {
    "id_card": "<ID_CARD>",
    "mobile": "<PHONE>",
    "email": "<EMAIL>",
    "ip": "<IP>",
    "bank_card": "<BANK_CARD>",
}

# Chinese punctuation that NFKC would turn into ASCII; kept by `keep_cjk_punct` (private-use stand-ins
# from Supplementary PUA-B carry them through NFKC).
CJK_PUNCT = "，！？：；（）～…"
_PUA = [chr(0x10FFF0 + i) for i in range(len(CJK_PUNCT))]

# RE2 patterns (pyarrow). `\x{...}` is RE2 syntax, so these are raw strings.
_ODD_SPACE = r"\x{a0}\x{1680}\x{2000}-\x{200a}\x{202f}\x{205f}\x{3000}"  # NFKC makes these " "
_SPACE = r"\t " + _ODD_SPACE
_NEWLINES = r"\r\n|[\r\x0b\x0c\x{2028}\x{2029}]"
_CONTROL = (
    r"[\x00-\x08\x0e-\x1f\x7f-\x9f\x{ad}\x{180e}\x{200b}\x{200e}\x{200f}\x{202a}-\x{202e}"
    r"\x{2060}-\x{2064}\x{2066}-\x{2069}\x{feff}\x{fff9}-\x{fffb}]"
)

# -- PII -------------------------------------------------------------------------------------------------
# A cheap RE2 pre-filter finds candidate documents; Python `re` with checksums runs on those only. Each
# pre-filter is a superset of its kind's patterns below (plain and grouped spellings).
_PREFILTER = {
    "id_card": r"[0-9]{17}[0-9Xx]|[0-9]{6}[ -][0-9]{4}|[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}",
    "mobile": r"1[3-9][0-9]{9}|1[3-9][0-9]{1,2}[ .-][0-9]{3,4}[ .-][0-9]{4}",
    "email": r"[A-Za-z0-9]@[A-Za-z0-9]",
    "ip": r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]|[0-9A-Fa-f]:[0-9A-Fa-f]{0,4}:",
    "bank_card": r"[0-9]{13}|[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}|[0-9]{4}[ -][0-9]{6}|[0-9]{6}[ -][0-9]{10}",
}
_A = re.ASCII
_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    _A,
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE = re.compile(rf"(?<![0-9.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?[0-9])", _A)
_IPV6_RE = re.compile(r"(?<![0-9A-Za-z:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z:])", _A)
# Grouped spellings use one separator throughout and may not go on with another group (`(?!(?P=a)[0-9])`).
_ID_RE = re.compile(
    r"(?<![0-9])(?:[1-9][0-9]{16}[0-9Xx]"
    r"|[1-9][0-9]{5}(?P<a>[ -])[0-9]{8}(?P=a)[0-9]{3}[0-9Xx](?!(?P=a)[0-9])"  # 110105 19491231 002X
    r"|[1-9][0-9]{5}(?P<b>[ -])[0-9]{4}(?P=b)[0-9]{4}(?P=b)[0-9]{3}[0-9Xx](?!(?P=b)[0-9])"  # 110105 1949 1231 002X
    r"|[1-9][0-9]{3}(?P<c>[ -])[0-9]{4}(?P=c)[0-9]{4}(?P=c)[0-9]{4}(?P=c)[0-9][0-9Xx](?!(?P=c)[0-9])"
    r")(?![0-9A-Za-z])",
    _A,
)
_BANK_RE = re.compile(
    r"(?<![0-9A-Za-z/=_])(?:[0-9]{13,19}"  # not inside a URL path, a query or an alphanumeric code
    r"|[0-9]{4}(?P<a>[ -])[0-9]{4}(?P=a)[0-9]{4}(?P=a)[0-9]{1,4}(?:(?P=a)[0-9]{1,3})?(?!(?P=a)[0-9])"  # 6222 0217 ...
    r"|[0-9]{4}(?P<b>[ -])[0-9]{6}(?P=b)[0-9]{4,5}(?!(?P=b)[0-9])"  # 3782 822463 10005 (Amex)
    r"|[0-9]{6}(?P<c>[ -])[0-9]{10,13}(?!(?P=c)[0-9])"  # 622848 0123456789012
    r")(?![0-9])",
    _A,
)
# Prefixes allotted to mobile networks (MIIT numbering plan): 140-144 (IoT), 154, 174 (satellite) and 194 are not.
_MOBILE_PREFIX = r"1(?:3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-35-8]|8[0-9]|9[0-35-9])"
_MOBILE_RE = re.compile(
    r"(?<![0-9+])(?<![0-9]\.)(?:(?:\+|00)?86[ -]?|\(\+?86\) ?)?"
    rf"(?:{_MOBILE_PREFIX}(?P<a>[ .-]?)[0-9]{{4}}(?P=a)[0-9]{{4}}(?!(?P=a)[0-9])"  # 13812345678, 138.1234.5678
    rf"|{_MOBILE_PREFIX}[0-9](?P<b>[ .-])[0-9]{{3}}(?P=b)[0-9]{{4}}(?!(?P=b)[0-9]))"  # 1381 234 5678
    r"(?![0-9])",
    _A,
)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits of a resident ID: province-level divisions (GB/T 2260), and 81-83 of the residence permits of
# Hong Kong, Macau and Taiwan residents.
_ID_PROVINCES = frozenset(
    str(p) for p in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66))
) | {"71", "81", "82", "83"}


def _digits(number: str) -> str:
    return number.replace(" ", "").replace("-", "")


def id_card_valid(number: str) -> bool:
    """Mainland resident ID (GB 11643): 18 characters, a province code, a real birth date, and the ISO 7064
    MOD 11-2 check character."""
    number = _digits(number)
    if len(number) != 18 or not number[:17].isdigit() or number[:2] not in _ID_PROVINCES:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != number[17].upper():
        return False
    try:
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return datetime.date(1900, 1, 1) <= born <= datetime.date.today()


def _id_shaped(digits: str) -> bool:
    """18 digits with a province code and a birth year 18xx-20xx where an ID has them: a mistyped ID number (or
    a code built like one), not a card, even when it happens to pass Luhn (one in ten do)."""
    return len(digits) == 18 and digits[:2] in _ID_PROVINCES and digits[6:8] in ("18", "19", "20")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Issuer identification numbers (first digits, ISO/IEC 7812) of the networks that issue cards held in China,
# with the lengths each issues: (lowest prefix, highest prefix, lengths). Visa's obsolete 13 digits are left
# out: 13-digit parcel numbers starting with 4 are far more common in Chinese text than such cards.
CARD_NETWORKS: dict[str, tuple[tuple[str, str, tuple[int, ...]], ...]] = {
    "unionpay": (("62", "62", (16, 17, 18, 19)),),
    "visa": (("4", "4", (16, 19)),),
    "mastercard": (("51", "55", (16,)), ("2221", "2720", (16,))),
    "amex": (("34", "34", (15,)), ("37", "37", (15,))),
    "jcb": (("3528", "3589", (16, 17, 18, 19)),),
    "discover": (("6011", "6011", (16, 17, 18, 19)), ("644", "649", (16, 17, 18, 19)), ("65", "65", (16, 17, 18, 19))),
}
# A number right after one of these labels is an order, parcel, serial or product code, whatever its digits.
_CODE_LABEL = re.compile(
    r"(?:订单|运单|单|流水|交易|序列|批次|编|工|学|货|款|型|条|商品|产品)(?:号|码|编号|编码)[:：#]?\s?$"
)


def card_network(digits: str) -> str | None:
    """The network whose IIN range and lengths fit `digits`, or None."""
    for name, ranges in CARD_NETWORKS.items():
        for lo, hi, lengths in ranges:
            if len(digits) in lengths and lo <= digits[: len(lo)] <= hi:
                return name
    return None


def bank_card_valid(number: str) -> bool:
    """A payment card number: an issuing network's prefix and length, a Luhn check digit, and not shaped
    like an ID number."""
    digits = _digits(number)
    return card_network(digits) is not None and not _id_shaped(digits) and luhn_valid(digits)


def _bank_match_valid(m: re.Match) -> bool:
    return bank_card_valid(m.group(0)) and not _CODE_LABEL.search(m.string, max(0, m.start() - 8), m.start())


def _ipv6_valid(m: re.Match) -> bool:
    # At least three colons: "12:30:45" and "a::b" are times and code, not addresses.
    if m.group(0).count(":") < 3:
        return False
    try:
        ipaddress.IPv6Address(m.group(0))
    except ValueError:
        return False
    return True


# Order matters: e-mail first (local parts can be phone numbers), ID before bank card (an ID can pass
# Luhn), long digit runs before mobile numbers.
_RULES: tuple[tuple[str, re.Pattern, Callable[[re.Match], bool] | None], ...] = (
    ("email", _EMAIL_RE, None),
    ("ip", _IPV4_RE, None),
    ("ip", _IPV6_RE, _ipv6_valid),
    ("id_card", _ID_RE, lambda m: id_card_valid(m.group(0))),
    ("bank_card", _BANK_RE, _bank_match_valid),
    ("mobile", _MOBILE_RE, None),
)


def redact_pii(text: str, kinds: tuple[str, ...] | frozenset[str] = ALL_PII) -> tuple[str, dict[str, int]]:
    """Replace PII of the given kinds by placeholders; returns the text and counts per kind."""
    counts: dict[str, int] = {}
    for kind, pattern, valid in _RULES:
        if kind not in kinds:
            continue
        n = 0

        def repl(m: re.Match, kind: str = kind, valid: Callable[[re.Match], bool] | None = valid) -> str:
            nonlocal n
            if valid is not None and not valid(m):
                return m.group(0)
            n += 1
            return PLACEHOLDERS[kind]

        text = pattern.sub(repl, text)
        if n:
            counts[kind] = counts.get(kind, 0) + n
    return text, counts


class Normalize(Mapper):
    """Unicode, whitespace, optional Traditional->Simplified, and PII redaction (see the module docstring)."""

    name: ClassVar[str] = "normalize"
    version: ClassVar[str] = "2"  # 2: card IIN ranges, ID structure, grouped spellings
    adds: ClassVar[tuple[str, ...]] = ("_pii",)

    nfkc: bool = Field(True, description="Unicode NFKC (full-width ASCII to half-width ...)")
    keep_cjk_punct: bool = Field(True, description="keep full-width Chinese punctuation that NFKC would rewrite")
    remove_control: bool = Field(True, description="remove control characters except newline and tab")
    whitespace: bool = Field(True, description="collapse runs of spaces, strip lines, limit blank lines")
    max_blank_lines: int = Field(1, ge=0, description="blank lines kept between paragraphs at most")
    t2s: bool = Field(False, description="convert Traditional to Simplified (OpenCC t2s)")
    redact_pii: bool = Field(True, description="replace PII with <ID_CARD>, <PHONE>, <EMAIL>, <IP>, <BANK_CARD>")
    pii_kinds: list[PiiKind] = Field(default_factory=lambda: list(ALL_PII), description="kinds of PII to redact")

    def map(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text")
        texts = self.normalize_text(texts)
        if self.redact_pii and self.pii_kinds:
            texts, n_pii = self._redact(texts)
            batch = set_column(batch, "_pii", pa.array(n_pii, pa.int32()))
        if self.t2s:
            from stages.chinese import t2s_array

            texts = t2s_array(texts)
        return set_column(batch, "text", texts)

    def normalize_text(self, texts: pa.Array) -> pa.Array:
        """Everything but PII and t2s, vectorised with pyarrow."""
        if self.nfkc:
            if self.keep_cjk_punct:
                for mark, stand_in in zip(CJK_PUNCT, _PUA, strict=True):
                    texts = pc.replace_substring(texts, mark, stand_in)
            texts = pc.utf8_normalize(texts, "NFKC")
            if self.keep_cjk_punct:
                for mark, stand_in in zip(CJK_PUNCT, _PUA, strict=True):
                    texts = pc.replace_substring(texts, stand_in, mark)
        if self.remove_control:  # (\t, \n, \v, \f, \r are not in _CONTROL)
            texts = pc.replace_substring_regex(texts, _CONTROL, "")
        if self.whitespace:  # newline variants -> \n, stripping the spaces around every line break
            texts = pc.replace_substring_regex(texts, f"[{_SPACE}]*(?:{_NEWLINES}|\n)[{_SPACE}]*", "\n")
        elif self.remove_control:
            texts = pc.replace_substring_regex(texts, _NEWLINES, "\n")
        if self.whitespace:
            texts = pc.replace_substring_regex(texts, f"[{_SPACE}]{{2,}}|[{_ODD_SPACE}]", " ")
            keep = self.max_blank_lines + 1
            texts = pc.replace_substring_regex(texts, f"\n{{{keep + 1},}}", "\n" * keep)
            texts = pc.utf8_trim_whitespace(texts)
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        return texts

    def _redact(self, texts: pa.Array) -> tuple[pa.Array, np.ndarray]:
        kinds = frozenset(self.pii_kinds)
        n_pii = np.zeros(len(texts), np.int32)
        prefilter = "|".join(_PREFILTER[k] for k in ALL_PII if k in kinds)
        candidates = np.flatnonzero(pc.fill_null(pc.match_substring_regex(texts, prefilter), False).to_numpy(False))
        if len(candidates) == 0:
            return texts, n_pii
        values = texts.take(pa.array(candidates)).to_pylist()
        totals: dict[str, int] = {}
        for j, i in enumerate(candidates):
            new, counts = redact_pii(values[j], kinds)
            if counts:
                values[j] = new
                n_pii[i] = sum(counts.values())
                for k, n in counts.items():
                    totals[k] = totals.get(k, 0) + n
        for k in ALL_PII:
            if k in totals:
                self.count(f"pii.{k}", totals[k])
        mask = np.zeros(len(texts), bool)
        mask[candidates] = True
        return pc.replace_with_mask(texts, pa.array(mask), pa.array(values, pa.string())), n_pii
