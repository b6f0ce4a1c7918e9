"""Writing failures a user must fix (disk full, quota, read-only or unwritable output folder) as one line that
names the file or folder, instead of an `OSError` traceback from deep inside a writer.

pyarrow's writers raise `OSError` with the errno but without `filename` (the path is in the message, if at all),
so the caller says where it was writing: the run directory.
"""

from __future__ import annotations

import contextlib
import errno
import re
from collections.abc import Iterator

_REASONS = {
    errno.ENOSPC: ("no space left on the device", "free space or set output.dir to another disk"),
    errno.EDQUOT: ("disk quota exceeded", "free space or set output.dir to another disk"),
    errno.EROFS: ("read-only file system", "set output.dir to a writable folder"),
    errno.EACCES: ("permission denied", "set output.dir to a writable folder"),
    errno.EPERM: ("operation not permitted", "set output.dir to a writable folder"),
}
_PATH_IN_MESSAGE = re.compile(r"(?:file|directory) '([^']+)'")


class OutputError(OSError):
    """An output the user must fix (disk full, read-only folder); the message names the file or folder."""


def output_error(e: OSError, where: str) -> OutputError | None:
    """The one-line error for a write that failed for a reason the user must fix, or None for other errors."""
    if isinstance(e, OutputError):
        return e
    known = _REASONS.get(e.errno) if e.errno is not None else None
    if known is None:
        return None
    in_message = _PATH_IN_MESSAGE.search(str(e))
    path = e.filename or (in_message.group(1) if in_message else where)
    reason, hint = known
    return OutputError(f"{path}: cannot write: {reason}; {hint}")


@contextlib.contextmanager
def writing(where: str) -> Iterator[None]:
    """Turn disk-full and permission failures inside the block into `OutputError` naming `where` when the
    error itself names no file."""
    try:
        yield
    except OSError as e:
        err = output_error(e, where)
        if err is None or err is e:
            raise
        raise err from None
