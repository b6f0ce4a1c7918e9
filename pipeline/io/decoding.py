"""Bytes before documents: compression by magic number (gzip, zstd; a truncated zstd file raises instead of
ending early, a `.zst` that is not zstd is refused) and the encoding of a JSONL file (UTF-8; GB18030, Big5 or
UTF-16 when `input.encoding: auto` or names it; see `pipeline.io.charset`)."""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from pipeline.io import charset
from pipeline.io.files import COMPRESSION_EXTS, InputError
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
    """The codec of a JSONL file (`pipeline.io.charset.sniff` over its first MB after decompression), refused
    with the encoding it looks like unless `input.encoding` is `auto` or names it."""
    try:
        with open_bytes(path, compression) as f:
            sample = f.read(SNIFF_BYTES)
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    except Exception as e:  # zstandard.ZstdError and friends
        raise InputError(f"{path}: cannot decompress {compression} (corrupt?): {e}") from None
    guess = charset.sniff(sample, complete=len(sample) < SNIFF_BYTES)
    if guess.encoding is None:
        raise InputError(f"{path}: neither UTF-8 nor GB18030, Big5 or UTF-16 ({guess.detail})")
    if guess.encoding == charset.UTF8 or configured in ("auto", charset.CONFIG_NAME[guess.encoding]):
        return guess.encoding
    name, key = charset.NAMES[guess.encoding], charset.CONFIG_NAME[guess.encoding]
    told = "not UTF-8" if configured == "utf-8" else f"input.encoding is {configured}, but the file is not"
    raise InputError(f"{path}: {told} (looks like {name}); set input.encoding: auto or {key} to decode it")


def check_compression(path: str, compression: str | None) -> None:
    """A `.gz`/`.zst` name over bytes without that format's magic number is a corrupt (or misnamed) archive;
    reading it as plain text would turn it into malformed lines."""
    named = next((c for ext, c in COMPRESSION_EXTS.items() if path.lower().endswith(ext)), None)
    if named is not None and compression != named:
        with open_raw(path) as f:
            head = f.read(4)
        raise InputError(
            f"{path}: named .{'gz' if named == 'gzip' else 'zst'} but not {named} data (starts with {head.hex(' ')}): "
            "a corrupt or misnamed archive"
        )


@contextlib.contextmanager
def open_lines(path: str, compression: str | None, encoding: str) -> Iterator[Iterable[bytes]]:
    """The file's lines as bytes in `encoding`, except UTF-16, whose lines come re-encoded as UTF-8 (its
    newline is two bytes, and a byte 0x0A occurs inside characters such as 上 U+4E0A)."""
    with open_bytes(path, compression) as fh:
        if not encoding.startswith(charset.UTF16):
            yield fh
            return
        text = io.TextIOWrapper(fh, encoding=encoding, newline="\n")
        yield (line.encode("utf-8", "surrogatepass") for line in text)


def line_encoding(encoding: str) -> str:
    """How the lines of `open_lines` are encoded."""
    return "utf-8" if encoding.startswith(charset.UTF16) else encoding
