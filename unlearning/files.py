"""Files: atomic writes, JSON/TSV, staged outputs that replace a finished result only once the new one is complete,
and content fingerprints (a run is identified by what its inputs contain, not by how their path is spelled).

``file_fingerprint(path)`` is the first 16 hex digits of the file's SHA-256; it is cached per (real path, inode,
size, mtime, ctime) within one process, so asking twice for a large checkpoint reads it once.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from .errors import OutputError


def atomic_write(path: str, write) -> str:
    """Write via ``write(tmp_path)`` then rename: readers never see a half-written file, and a file that was there
    stays as it was when the write fails. A failed write (full disk, I/O error, no permission; torch's writer
    reports those as RuntimeError) is one OutputError line naming the file."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="tmp-", suffix=".part", dir=folder)
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o666 & ~process_umask())  # mkstemp makes 0600; the file gets the mode open() would give it
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        lines = str(err).strip().splitlines()
        why = err.strerror if isinstance(err, OSError) and err.strerror else (lines[-1] if lines else type(err).__name__)
        raise OutputError(f"could not write {path}: {why}") from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return path


def atomic_write_text(path: str, text: str) -> str:
    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(text)
    return atomic_write(path, write)


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, torch.Tensor):
        return jsonable(obj.tolist())
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return str(obj)


def same_json(a, b) -> bool:
    """Whether two values are the same JSON document (tuples as lists, keys in any order)."""
    return json.dumps(jsonable(a), sort_keys=True) == json.dumps(jsonable(b), sort_keys=True)


def write_json(path: str, data: dict) -> str:
    return atomic_write_text(path, json.dumps(jsonable(data), indent=2) + "\n")


def read_json(path: str) -> dict:
    with open(path) as fh:
        return json.load(fh)


def read_json_object(path: str, warn: bool = True, then: str = "it is computed again") -> Optional[dict]:
    """The JSON object in ``path``; None when it is missing, or (with one warning on stderr naming it and saying
    ``then``, what happens instead) empty, truncated, unreadable or not an object: a reader that reuses a file
    never crashes on its content."""
    if not os.path.isfile(path):
        return None
    try:
        data = read_json(path)
    except (OSError, ValueError) as err:
        why = "empty or truncated JSON" if isinstance(err, ValueError) else f"unreadable ({err.strerror or err})"
    else:
        if isinstance(data, dict):
            return data
        why = f"holds {type(data).__name__ if data is not None else 'null'}, not an object"
    if warn:
        print(f"warning: skipped {path}: {why} ({then})", file=sys.stderr)
    return None


def write_tsv(path: str, rows: list, columns: list) -> str:
    def fmt(v):
        return f"{v:.6g}" if isinstance(v, float) else str(v)
    lines = ["\t".join(columns)] + ["\t".join(fmt(r.get(c, "")) for c in columns) for r in rows]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def torch_save_stable(obj, path: str) -> None:
    """``torch.save`` through a file object: the archive inside then has a fixed name instead of the (random)
    temporary file's, so the same content gives the same bytes and the same fingerprint."""
    with open(path, "wb") as fh:
        torch.save(obj, fh)


def process_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux /proc)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def check_stage_owner(folder: str, stage: str) -> None:
    """OutputError when ``folder`` already holds another stage's results.json (an --out_dir pointing at an
    unlearning run's folder would replace that run's results): a stage writes only into its own folders."""
    path = os.path.join(folder, "results.json")
    if not os.path.isfile(path):
        return
    try:
        owner = read_json(path)
    except (OSError, ValueError):
        return  # unreadable: not a finished result of any stage; the stage's staged write replaces it
    other = owner.get("stage") if isinstance(owner, dict) else None
    if other is not None and other != stage:
        raise OutputError(f"{folder} holds the results of the {other} stage: the {stage} stage writes into its own "
                          f"folder (give another --out_dir, or none for the default)")


def check_output_dir(path: str, what: str = "output folder") -> str:
    """Raise OutputError unless ``path`` can be created and written: every name within the file system's limit,
    the nearest existing ancestor a writable folder (probed by creating a folder in it, which also covers
    read-only mounts and dropped capabilities)."""
    full = os.path.abspath(path)
    probe = full
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    try:
        name_max = os.pathconf(probe if os.path.isdir(probe) else os.path.dirname(probe), "PC_NAME_MAX")
        path_max = os.pathconf(probe if os.path.isdir(probe) else os.path.dirname(probe), "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    # a staging sibling (".staging-<pid>-<random>") and file names inside must fit too
    for part in full.split(os.sep):
        if len(part.encode()) > name_max:
            raise OutputError(f"{what} {path}: the folder name {part[:40]}… has {len(part.encode())} bytes, "
                              f"more than the file system allows ({name_max})")
    if len(full.encode()) + 64 > path_max:
        raise OutputError(f"{what} {path}: the path is {len(full.encode())} bytes long, too long for the file "
                          f"system ({path_max})")
    if not os.path.isdir(probe):
        raise OutputError(f"{what} {path}: {probe} exists and is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=probe))
    except OSError as err:
        raise OutputError(f"{what} {path}: cannot write in {probe} ({err.strerror or err})")
    return path


STAGING_PREFIX = ".staging-"


_RENAME_EXCHANGE = 2


def _move_missing_folders(src: str, dst: str) -> None:
    """Every sub-folder of ``src`` that ``dst`` does not have, renamed into ``dst`` (the same file system)."""
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if os.path.isdir(path) and not os.path.islink(path) and not os.path.lexists(os.path.join(dst, name)):
            os.rename(path, os.path.join(dst, name))


def _exchange(a: str, b: str) -> bool:
    """Swap two existing paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd = -100
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_staging(parent: str) -> None:
    """Delete staging folders left in ``parent`` by processes that no longer run (killed mid-stage)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(STAGING_PREFIX):
            continue
        pid = name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


class StagedOutput:
    """A stage's outputs, built in a temporary sibling folder and moved into ``final_dir`` only by ``commit()``.

    ``whole=True``: the stage owns ``final_dir``; commit swaps the new folder for the old one, so everything the
    old folder held (results computed on the old model, e.g. rea/ under an unlearning run) goes with it, unless
    ``commit(keep_old_folders=True)`` (the new model is the old one: its later results still hold).
    ``whole=False`` (a folder the user named, which may hold other files): the staging folder is made inside it
    and commit moves the new files out of it one by one, results.json last. Leaving the ``with`` block without ``commit()`` (an error, Ctrl-C) deletes the staging
    folder and leaves ``final_dir`` exactly as it was; a SIGKILL leaves the staging folder, which the next stage
    writing into the same parent deletes.
    """

    def __init__(self, final_dir: str, whole: bool = True):
        self.final_dir = final_dir
        self.whole = whole
        # whole: a sibling of the folder; otherwise beside the old files, inside the folder
        parent = os.path.dirname(os.path.abspath(final_dir)) if whole else os.path.abspath(final_dir)
        os.makedirs(parent, exist_ok=True)
        remove_stale_staging(parent)
        self.dir = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=parent)
        os.chmod(self.dir, 0o777 & ~process_umask())
        self.committed = False

    def path(self, name: str) -> str:
        """Where to write ``name`` now."""
        return os.path.join(self.dir, name)

    def final(self, name: str) -> str:
        """Where ``name`` will be once committed (the path to record in results)."""
        return os.path.join(self.final_dir, name)

    def commit(self, keep_old_folders: bool = False) -> str:
        """Move the outputs into place. ``keep_old_folders`` (whole only): the sub-folders of the old folder that
        the new one does not have (results of later stages) move into the new folder instead of going with the
        old one; for a rerun that reproduced the old folder's model exactly, whose later results still hold."""
        final = os.path.abspath(self.final_dir)
        if self.whole:
            if not os.path.lexists(final):
                os.rename(self.dir, final)
            elif os.path.isdir(final) and not os.path.islink(final) and _exchange(self.dir, final):
                if keep_old_folders:
                    _move_missing_folders(self.dir, final)  # self.dir now holds the old folder
                shutil.rmtree(self.dir, ignore_errors=True)
            else:
                # no atomic exchange here: a kill between the two renames leaves the old run in .replaced-*
                old = tempfile.mkdtemp(prefix=f".replaced-{os.getpid()}-", dir=os.path.dirname(final))
                os.rename(final, os.path.join(old, "old"))
                os.rename(self.dir, final)
                if keep_old_folders:
                    _move_missing_folders(os.path.join(old, "old"), final)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.makedirs(final, exist_ok=True)
            for name in sorted(os.listdir(self.dir), key=lambda n: (n == "results.json", n)):
                target = os.path.join(final, name)
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                os.replace(os.path.join(self.dir, name), target)
            os.rmdir(self.dir)
        self.committed = True
        return self.final_dir

    def discard(self) -> None:
        if not self.committed:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()
        return False


def finished_result(folder: str) -> bool:
    """True when ``folder`` holds a results.json with status "done"."""
    try:
        data = read_json(os.path.join(folder, "results.json"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("status") == "done"


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
