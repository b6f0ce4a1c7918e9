"""Bytes before documents: compression by magic number (gzip, zstd; a truncated zstd file raises instead of
ending early) and the encoding of a JSONL file (UTF-8, or GB18030 when `input.encoding: auto`)."""

from __future__ import annotations

import codecs
import gzip
import io
from typing import Any, BinaryIO

from pipeline.io.files import InputError
from pipeline.io.remote import is_url, open_raw

SNIFF_BYTES = 1 << 20


UTF8_BOM = codecs.BOM_UTF8


_GZIP_MAGIC = b"\x1f\x8b"


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def sniff_compression(path: str) -> str | None:
    with open_raw(path) as f:
        head = f.read(4)
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return None


def open_bytes(path: str, compression: str | None) -> BinaryIO:
    if not is_url(path):
        if compression == "gzip":
            return io.BufferedReader(gzip.GzipFile(path, "rb"), buffer_size=1 << 20)  # type: ignore[arg-type]
        if compression == "zstd":
            return io.BufferedReader(_ZstdReader(open(path, "rb")), buffer_size=1 << 20)
        return open(path, "rb", buffering=1 << 20)
    raw = open_raw(path)
    try:
        if compression == "gzip":
            return _Buffered(gzip.GzipFile(fileobj=raw, mode="rb"), raw)  # GzipFile leaves fileobj open
        if compression == "zstd":
            return _Buffered(_ZstdReader(raw))
        return _Buffered(raw)
    except BaseException:
        raw.close()
        raise


class _Buffered(io.BufferedReader):
    """A 1 MB buffer over a remote file (C-speed line iteration), closing the file under a decompressor too."""

    def __init__(self, raw: Any, also: Any = None):
        super().__init__(raw, buffer_size=1 << 20)
        self._also = also

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._also is not None:
                self._also.close()


class _ZstdReader(io.RawIOBase):
    """Multi-frame zstd decompression that raises EOFError on a truncated file
    (`zstandard`'s stream_reader just ends early, which would lose documents silently)."""

    def __init__(self, fh: BinaryIO):
        import zstandard

        self._fh = fh
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._fed = False
        self._buf = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._buf):
            chunk = self._fh.read(1 << 20)
            if not chunk:
                if self._fed and not self._dobj.eof:
                    raise EOFError("zstd stream ended in the middle of a frame (truncated file)")
                return 0
            out = []
            while chunk:
                if self._dobj.eof:
                    self._dobj = self._dctx.decompressobj()
                self._fed = True
                out.append(self._dobj.decompress(chunk))
                chunk = self._dobj.unused_data if self._dobj.eof else b""
            self._buf, self._pos = b"".join(out), 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def sniff_encoding(path: str, compression: str | None, configured: str) -> str:
    """UTF-8 unless the head of the file is mostly GB18030; a few bad lines in a UTF-8 file are rejected later.

    The first MB (after decompression) is decoded line by line: a line with non-ASCII bytes votes UTF-8 when
    it decodes strictly as UTF-8. If UTF-8 loses, the file is GB18030 when every losing line decodes as such;
    otherwise it is UTF-8 with bad lines when some lines are fine, and refused when none is.
    """
    try:
        with open_bytes(path, compression) as f:
            sample = f.read(SNIFF_BYTES)
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    except Exception as e:  # zstandard.ZstdError and friends
        raise InputError(f"{path}: cannot decompress {compression}: {e}") from None
    if sample.startswith(UTF8_BOM):
        return "utf-8"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError as e:
        first_bad = e.start
    lines = sample.split(b"\n")
    if len(sample) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # possibly cut in the middle
    ascii_lines = utf8_lines = bad_lines = 0
    gb_ok = True
    for line in lines:
        if not line.strip():
            continue
        if line.isascii():
            ascii_lines += 1
            continue
        try:
            line.decode("utf-8")
            utf8_lines += 1
        except UnicodeDecodeError:
            bad_lines += 1
            try:
                codecs.getincrementaldecoder("gb18030")().decode(line, final=False)
            except UnicodeDecodeError:
                gb_ok = False
    if utf8_lines >= bad_lines:
        return "utf-8"
    if not gb_ok:
        if ascii_lines + utf8_lines:
            return "utf-8"  # some good lines: the others are rejected as read.invalid_utf8
        raise InputError(f"{path}: neither UTF-8 nor GB18030 (first invalid UTF-8 byte at offset {first_bad})")
    if configured in ("auto", "gb18030"):
        return "gb18030"
    raise InputError(f"{path}: not UTF-8 (looks like GBK/GB18030); set input.encoding: auto or gb18030 to decode it")
