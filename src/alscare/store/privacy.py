"""Patient data files are private: files 0600, folders 0700, unless the user says otherwise.

The permission mask is ``$ALSCARE_UMASK`` (octal, e.g. ``027`` to let the owner's group read),
else ``077``. The command line applies it to the whole process (:func:`apply_umask`), so that the
database, its ``-wal``/``-shm``/journal files, exports and report files are all created with it;
the store also creates the SQLite file and the folders it makes with it explicitly
(:func:`private_file`, :func:`private_folder`), so that a library caller (a web server) with a
permissive umask still gets a private database. SQLite creates its ``-wal``, ``-shm`` and
journal files with the permissions of the database file.
"""

from __future__ import annotations

import os
from pathlib import Path

UMASK_ENV = "ALSCARE_UMASK"
DEFAULT_UMASK = 0o077


def configured_umask() -> int:
    """The permission mask for patient data files (``$ALSCARE_UMASK``, default 077)."""
    raw = os.environ.get(UMASK_ENV, "").strip()
    if not raw:
        return DEFAULT_UMASK
    try:
        mask = int(raw.removeprefix("0o"), 8)
    except ValueError:
        mask = -1
    if not 0 <= mask <= 0o777:
        raise ValueError(f"${UMASK_ENV} = {raw!r}: allowed: an octal permission mask such as "
                         "077 (private, the default) or 027")
    return mask


def apply_umask() -> int:
    """Set the process umask to :func:`configured_umask`; returns the previous one."""
    return os.umask(configured_umask())


def private_folder(folder: Path) -> None:
    """Create ``folder`` and its missing parents with mode 0777 & ~umask (0700 by default);
    an existing folder is left as it is."""
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    mode = 0o777 & ~configured_umask()
    for p in reversed(missing):
        try:
            p.mkdir(mode=mode)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(p, mode)  # mkdir's mode is also masked by the process umask


def private_file(path: Path) -> None:
    """Create an empty ``path`` with mode 0666 & ~umask (0600 by default) unless it exists."""
    mode = 0o666 & ~configured_umask()
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
