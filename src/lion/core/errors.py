"""The one exception type the CLI turns into a single sentence and a non-zero exit, and the
storage failures it also turns into one."""

import errno


class LionError(Exception):
    """A problem the user can fix (bad input, bad config, a folder in use).

    The message is shown as is, so it must be one clear sentence that names the file, line
    and field where that applies, and must never contain a secret.
    """


_STORAGE_ERRNOS = {
    errno.ENOSPC: "no space is left on its device",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "its file system is read-only",
    errno.EIO: "its device reported an I/O error",
}
# how libraries that wrap the OS error (SQLite, safetensors, torch) word the same problems
_STORAGE_WORDS = {
    "no space left on device": _STORAGE_ERRNOS[errno.ENOSPC],
    "database or disk is full": _STORAGE_ERRNOS[errno.ENOSPC],
    "storagefull": _STORAGE_ERRNOS[errno.ENOSPC],
    "disk quota exceeded": _STORAGE_ERRNOS[errno.EDQUOT],
    "read-only file system": _STORAGE_ERRNOS[errno.EROFS],
    "readonly database": _STORAGE_ERRNOS[errno.EROFS],
    "disk i/o error": _STORAGE_ERRNOS[errno.EIO],
}


def storage_problem(error: BaseException) -> str | None:
    """What a failed write says about the storage (full, read-only, quota, I/O), or None when
    the error is something else; looks through the chain of wrapped errors."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in _STORAGE_ERRNOS:
            return _STORAGE_ERRNOS[e.errno]
        text = str(e).lower()
        for words, problem in _STORAGE_WORDS.items():
            if words in text:
                return problem
        e = e.__cause__ or e.__context__
    return None


def storage_error(where: object, problem: str) -> LionError:
    return LionError(f"{where}: cannot write there, because {problem}; fix that and run the same command again to "
                     "go on where it stopped (nothing written so far is lost).")
