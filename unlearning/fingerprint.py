"""Content fingerprints of files: a run is identified by what its inputs contain, not by how their path is spelled.

``file_fingerprint(path)`` is the first 16 hex digits of the file's SHA-256; it is cached per (real path, inode,
size, mtime, ctime) within one process, so asking twice for a large checkpoint reads it once.
"""
from __future__ import annotations

import hashlib
import os
from typing import Dict, Optional, Tuple

_CACHE: Dict[Tuple[str, int, int, int, int], str] = {}


def file_fingerprint(path: str) -> Optional[str]:
    """SHA-256 prefix of the file's bytes, or None when there is no such file."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    # inode and ctime too: a file replaced or rewritten within one mtime tick is not taken for the old one
    key = (real, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _CACHE:
        h = hashlib.sha256()
        with open(real, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _CACHE[key] = h.hexdigest()[:16]
    return _CACHE[key]
