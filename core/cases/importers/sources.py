"""Read files from an import source (a folder or a .zip) without ever leaving it.

A source lists its regular files as relative POSIX paths and reads them as bytes. Entries that
would escape the source (zip-slip names, absolute paths, ``..``, links pointing outside) are
refused while listing and reported in ``refused`` as ``(path, reason)``; operating-system
clutter (``__MACOSX/``, dot files, ``Thumbs.db``) is ignored silently.
"""
from __future__ import annotations

import lzma
import os
import re
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from core.cases.decode import MAX_FILE_BYTES, BadFile
from core.errors import UserError

CLUTTER = {"__macosx", "thumbs.db", "desktop.ini"}
# What reading one damaged entry can raise: a broken deflate/bzip2/lzma stream, a CRC or header
# error, a cut archive, an unsupported compression method.
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, NotImplementedError, OSError,
                   EOFError, ValueError, RuntimeError)
_DRIVE = re.compile(r"^[A-Za-z]:")


def is_clutter(rel: str) -> bool:
    """Files no dataset means to ship: macOS resource forks, dot files, Windows thumbnails."""
    return any(part.startswith(".") or part.lower() in CLUTTER for part in rel.split("/"))


def inside(root: Path, name: str, resolved: bool = False) -> Path:
    """``name`` (relative, or absolute but under ``root``) as a real path under ``root``
    (``resolved``: ``root`` is a real path already, so it is not looked up again per file).

    Raises :class:`BadFile` for anything that escapes ``root``, through ``..`` or a link.
    """
    root = root if resolved else root.resolve()
    text = name.strip().replace("\\", "/")
    if "\x00" in text:
        raise BadFile("path contains a NUL byte")
    candidate = Path(text)
    if not candidate.is_absolute():
        if _DRIVE.match(text) or ".." in PurePosixPath(text).parts:
            raise BadFile("path escapes its folder")
        candidate = root / text
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as error:  # a link loop, a name too long
        raise BadFile(f"cannot follow this path: {error}") from None
    if not resolved.is_relative_to(root):
        raise BadFile("path escapes its folder")
    return resolved


def regular_file_size(path: Path) -> int:
    """Size of a regular file; BadFile for a missing file, a folder, a device or a pipe."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise BadFile("file not found") from None
    except OSError as error:
        raise BadFile(f"cannot read: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):
        raise BadFile("not a regular file")
    return info.st_size


def read_regular_file(path: Path) -> bytes:
    """Bytes of a regular file, refusing missing files, devices, pipes and oversized files."""
    size = regular_file_size(path)
    if size > MAX_FILE_BYTES:
        raise BadFile(f"file is {size / 2**20:.0f} MiB, over the "
                      f"{MAX_FILE_BYTES // 2**20} MiB limit")
    try:
        return path.read_bytes()
    except OSError as error:
        raise BadFile(f"cannot read: {error.strerror or error}") from None


class FolderSource:
    """The regular files under a folder; links are followed only to files inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.refused: list[tuple[str, str]] = []

    def files(self) -> list[str]:
        found = []
        for folder, dirs, names in os.walk(self.root):
            here = Path(folder)
            for name in list(dirs):
                if (here / name).is_symlink():
                    dirs.remove(name)
                    rel = (here / name).relative_to(self.root).as_posix()
                    if not is_clutter(rel):
                        self.refused.append((rel, "link to a folder (not followed)"))
            for name in names:
                rel = (here / name).relative_to(self.root).as_posix()
                if is_clutter(rel):
                    continue
                if (here / name).is_symlink() and not (here / name).resolve().is_relative_to(self.root):
                    self.refused.append((rel, "link pointing outside the folder"))
                    continue
                found.append(rel)
        return sorted(found)

    def read(self, rel: str) -> bytes:
        return read_regular_file(inside(self.root, rel, resolved=True))

    def close(self) -> None:
        """Nothing to release (a folder)."""


class ZipSource:
    """The file entries of a .zip archive, read into memory one at a time (never extracted)."""

    def __init__(self, path: Path) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise UserError(f"cannot open {path} as a zip archive: {error}") from None
        self.refused: list[tuple[str, str]] = []
        self._entries: dict[str, zipfile.ZipInfo] = {}

    def files(self) -> list[str]:
        for info in self._zip.infolist():
            name = info.filename.replace("\\", "/")
            if info.is_dir():
                continue
            reason = _unsafe_entry(name, info)
            if reason:
                self.refused.append((name, reason))
                continue
            if is_clutter(name):
                continue
            self._entries[name] = info
        return sorted(self._entries)

    def read(self, rel: str) -> bytes:
        info = self._entries[rel]
        if info.file_size > MAX_FILE_BYTES:
            raise BadFile(f"entry is {info.file_size / 2**20:.0f} MiB unpacked, over the "
                          f"{MAX_FILE_BYTES // 2**20} MiB limit")
        try:
            with self._zip.open(info) as stream:
                data = stream.read(MAX_FILE_BYTES + 1)
        except ZIP_READ_ERRORS as error:
            raise BadFile(f"damaged zip entry: {error}") from None
        if len(data) > MAX_FILE_BYTES:
            raise BadFile(f"entry unpacks to over {MAX_FILE_BYTES // 2**20} MiB")
        return data

    def close(self) -> None:
        self._zip.close()


def _unsafe_entry(name: str, info: zipfile.ZipInfo) -> str | None:
    if name.startswith("/") or _DRIVE.match(name) or ".." in PurePosixPath(name).parts:
        return "zip entry escapes the archive's folder (zip-slip)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link inside the zip"
    if info.flag_bits & 0x1:
        return "encrypted zip entry"
    return None


def open_source(path: Path) -> FolderSource | ZipSource:
    """A folder or a .zip archive at ``path``; :class:`UserError` for anything else."""
    path = Path(path)
    if path.is_dir():
        return FolderSource(path)
    if path.is_file() and zipfile.is_zipfile(path):
        return ZipSource(path)
    if not path.exists():
        raise UserError(f"{path} does not exist")
    raise UserError(f"{path} is neither a folder nor a zip archive")
