"""NfsExport: one mounted NFS export in user space (ctypes over libnfs.so.13): files, space.

Why ctypes over Debian's libnfs rather than the libnfs-utils programs: a pool needs stat,
listing, rename, unlink, statvfs and writes at offsets on one mounted session. The CLIs
offer only ``nfs-ls``/``nfs-cat``/``nfs-cp`` (no rename, unlink or statvfs), and one
process per call would mount the export every time. The PyPI ``libnfs`` bindings are old
(1.0.post4) and do not build against Debian's library. The ABI used here is the one of
``/usr/include/nfsc/libnfs.h`` of libnfs 4.0 (soname 13), whose synchronous calls return
``-errno`` and leave a text for ``nfs_get_error``. No shell and no URL reach libnfs: the
server and export are passed as separate strings, file names are checked by the caller.

ctypes releases the GIL during each call, so a hung server blocks only the calling thread;
``nfs_set_timeout`` bounds each RPC. One context must not be used by two threads at once:
an NfsExport belongs to the thread that opened it.
"""

import ctypes
import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType

LIBRARY = "libnfs.so.13"
# libnfs takes RPC timeouts in whole seconds, expressed in milliseconds.
_MS_PER_S = 1000


class NfsExportError(OSError):
    """An NFS call failed; ``errno`` is set and the text carries libnfs's message."""


class _Stat64(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "dev",
            "ino",
            "mode",
            "nlink",
            "uid",
            "gid",
            "rdev",
            "size",
            "blksize",
            "blocks",
            "atime",
            "mtime",
            "ctime",
            "atime_nsec",
            "mtime_nsec",
            "ctime_nsec",
            "used",
        )
    ]


class _Statvfs64(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "f_bsize",
            "f_frsize",
            "f_blocks",
            "f_bfree",
            "f_bavail",
            "f_files",
            "f_ffree",
            "f_favail",
            "f_fsid",
            "f_flag",
            "f_namemax",
        )
    ]


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Dirent(ctypes.Structure):
    pass


_Dirent._fields_ = [
    ("next", ctypes.POINTER(_Dirent)),
    ("name", ctypes.c_char_p),
    ("inode", ctypes.c_uint64),
    ("type", ctypes.c_uint32),
    ("mode", ctypes.c_uint32),
    ("size", ctypes.c_uint64),
    ("atime", _Timeval),
    ("mtime", _Timeval),
    ("ctime", _Timeval),
    ("uid", ctypes.c_uint32),
    ("gid", ctypes.c_uint32),
    ("nlink", ctypes.c_uint32),
    ("dev", ctypes.c_uint64),
    ("rdev", ctypes.c_uint64),
    ("blksize", ctypes.c_uint64),
    ("blocks", ctypes.c_uint64),
    ("used", ctypes.c_uint64),
    ("atime_nsec", ctypes.c_uint32),
    ("mtime_nsec", ctypes.c_uint32),
    ("ctime_nsec", ctypes.c_uint32),
]

_P = ctypes.c_void_p
_INT = ctypes.c_int
_STR = ctypes.c_char_p
_U64 = ctypes.c_uint64
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "nfs_init_context": (_P, []),
    "nfs_destroy_context": (None, [_P]),
    "nfs_get_error": (_STR, [_P]),
    "nfs_set_timeout": (None, [_P, _INT]),
    "nfs_mount": (_INT, [_P, _STR, _STR]),
    "nfs_stat64": (_INT, [_P, _STR, ctypes.POINTER(_Stat64)]),
    "nfs_statvfs64": (_INT, [_P, _STR, ctypes.POINTER(_Statvfs64)]),
    "nfs_create": (_INT, [_P, _STR, _INT, _INT, ctypes.POINTER(_P)]),
    "nfs_open": (_INT, [_P, _STR, _INT, ctypes.POINTER(_P)]),
    "nfs_pwrite": (_INT, [_P, _P, _U64, _U64, _P]),
    "nfs_pread": (_INT, [_P, _P, _U64, _U64, _P]),
    "nfs_fsync": (_INT, [_P, _P]),
    "nfs_close": (_INT, [_P, _P]),
    "nfs_rename": (_INT, [_P, _STR, _STR]),
    "nfs_unlink": (_INT, [_P, _STR]),
    "nfs_mkdir": (_INT, [_P, _STR]),
    "nfs_opendir": (_INT, [_P, _STR, ctypes.POINTER(_P)]),
    "nfs_readdir": (ctypes.POINTER(_Dirent), [_P, _P]),
    "nfs_closedir": (None, [_P, _P]),
}


def load_libnfs(name: str = LIBRARY) -> ctypes.CDLL:
    """Load libnfs and declare the signatures used here.

    Raises:
        OSError: the library is not installed (Debian package libnfs13).
    """
    library = ctypes.CDLL(name, use_errno=True)
    for function, (restype, argtypes) in _SIGNATURES.items():
        symbol = getattr(library, function)
        symbol.restype = restype
        symbol.argtypes = argtypes
    return library


@dataclass(frozen=True, slots=True, kw_only=True)
class NfsFileStat:
    """What a pool needs to know about one file on the export."""

    size_bytes: int
    is_regular: bool
    is_directory: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class NfsSpace:
    """The export's capacity and the bytes still available to an unprivileged writer."""

    capacity_bytes: int
    available_bytes: int


class NfsExport:
    """A mounted export of ``server``; paths are relative to the export's root.

    Use as a context manager: ``__enter__`` mounts (bounded by ``timeout_s`` per RPC),
    ``__exit__`` destroys the context, closing every handle it still holds.
    """

    def __init__(
        self,
        server: str,
        export: str,
        *,
        timeout_s: float,
        library: ctypes.CDLL | None = None,
    ) -> None:
        self.server = server
        self.export = export
        self._timeout_ms = max(1, round(timeout_s)) * _MS_PER_S
        self._lib = library or load_libnfs()
        self._context: int | None = None

    def __enter__(self) -> "NfsExport":
        context = self._lib.nfs_init_context()
        if not context:
            raise NfsExportError(errno.ENOMEM, "nfs_init_context failed")
        self._context = context
        try:
            self._lib.nfs_set_timeout(context, self._timeout_ms)
            self._check(
                self._lib.nfs_mount(context, self.server.encode(), self.export.encode()),
                f"mount {self.server}:{self.export}",
            )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Destroy the context (and with it the mount and open handles); idempotent."""
        if self._context is not None:
            self._lib.nfs_destroy_context(self._context)
            self._context = None

    def space(self) -> NfsSpace:
        """Return the export's capacity and available bytes (statvfs of its root)."""
        result = _Statvfs64()
        self._check(self._lib.nfs_statvfs64(self._ctx, b"/", ctypes.byref(result)), "statvfs of /")
        return NfsSpace(
            capacity_bytes=result.f_blocks * result.f_frsize,
            available_bytes=result.f_bavail * result.f_frsize,
        )

    def stat(self, path: str) -> NfsFileStat | None:
        """Return ``path``'s kind and size, or None if there is no such file."""
        result = _Stat64()
        code = self._lib.nfs_stat64(self._ctx, _abs(path), ctypes.byref(result))
        if code == -errno.ENOENT:
            return None
        self._check(code, f"stat {path}")
        return NfsFileStat(
            size_bytes=result.size,
            is_regular=stat.S_ISREG(result.mode),
            is_directory=stat.S_ISDIR(result.mode),
        )

    def list_directory(self, path: str = "", *, max_entries: int) -> list[tuple[str, bool]]:
        """Return up to ``max_entries`` ``(name, is_regular_file)`` of ``path`` (no . or ..)."""
        handle = ctypes.c_void_p()
        self._check(
            self._lib.nfs_opendir(self._ctx, _abs(path), ctypes.byref(handle)), f"list {path}"
        )
        entries: list[tuple[str, bool]] = []
        try:
            while len(entries) < max_entries:
                entry = self._lib.nfs_readdir(self._ctx, handle)
                if not entry:
                    break
                name = (entry.contents.name or b"").decode(errors="replace")
                if name in (".", ".."):
                    continue
                entries.append((name, stat.S_ISREG(entry.contents.mode)))
        finally:
            self._lib.nfs_closedir(self._ctx, handle)
        return entries

    def mkdir(self, path: str) -> None:
        """Create directory ``path``; an existing one is fine."""
        code = self._lib.nfs_mkdir(self._ctx, _abs(path))
        if code != -errno.EEXIST:
            self._check(code, f"mkdir {path}")

    def unlink(self, path: str) -> bool:
        """Remove file ``path``; return whether it existed."""
        code = self._lib.nfs_unlink(self._ctx, _abs(path))
        if code == -errno.ENOENT:
            return False
        self._check(code, f"unlink {path}")
        return True

    def rename(self, source: str, target: str) -> None:
        """Rename ``source`` to ``target`` (atomic on the server, replacing ``target``)."""
        self._check(
            self._lib.nfs_rename(self._ctx, _abs(source), _abs(target)),
            f"rename {source} to {target}",
        )

    def write_new(self, path: str, chunks: Iterable[bytes], *, mode: int = 0o644) -> int:
        """Create ``path`` (it must not exist), write ``chunks``, fsync; return the size.

        On any failure the half-written file is removed before the error is raised.
        """
        handle = ctypes.c_void_p()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        self._check(
            self._lib.nfs_create(self._ctx, _abs(path), flags, mode, ctypes.byref(handle)),
            f"create {path}",
        )
        offset = 0
        try:
            try:
                for chunk in chunks:
                    offset = self._pwrite_all(handle, offset, chunk, path)
                self._check(self._lib.nfs_fsync(self._ctx, handle), f"fsync {path}")
            finally:
                closed = self._lib.nfs_close(self._ctx, handle)
            self._check(closed, f"close {path}")
        except BaseException:
            self._lib.nfs_unlink(self._ctx, _abs(path))
            raise
        return offset

    def publish(self, partial: str, final: str, chunks: Iterable[bytes]) -> int:
        """Write ``chunks`` to ``partial``, then rename it to ``final``; return the size.

        A failed or interrupted write never leaves a file under ``final``: the partial file
        is removed and ``final`` keeps what it had.
        """
        size = self.write_new(partial, chunks)
        try:
            self.rename(partial, final)
        except BaseException:
            self._lib.nfs_unlink(self._ctx, _abs(partial))
            raise
        return size

    def read_chunks(self, path: str, *, chunk_bytes: int = 1024 * 1024) -> Iterator[bytes]:
        """Yield the content of ``path`` in chunks (for checks and copies)."""
        handle = ctypes.c_void_p()
        self._check(
            self._lib.nfs_open(self._ctx, _abs(path), os.O_RDONLY, ctypes.byref(handle)),
            f"open {path}",
        )
        buffer = ctypes.create_string_buffer(chunk_bytes)
        offset = 0
        try:
            while True:
                count = self._lib.nfs_pread(self._ctx, handle, offset, chunk_bytes, buffer)
                self._check(count, f"read {path}")
                if count == 0:
                    return
                offset += count
                yield buffer.raw[:count]
        finally:
            self._lib.nfs_close(self._ctx, handle)

    @property
    def _ctx(self) -> int:
        if self._context is None:
            raise NfsExportError(errno.EBADF, f"{self.server}:{self.export} is not mounted")
        return self._context

    def _pwrite_all(self, handle: ctypes.c_void_p, offset: int, chunk: bytes, path: str) -> int:
        view = memoryview(chunk)
        while view:
            buffer = (ctypes.c_char * len(view)).from_buffer_copy(view)
            written = self._lib.nfs_pwrite(self._ctx, handle, offset, len(view), buffer)
            self._check(written, f"write {path}")
            if written == 0:
                raise NfsExportError(errno.EIO, f"write {path}: the server took no bytes")
            offset += written
            view = view[written:]
        return offset

    def _check(self, code: int, what: str) -> None:
        if code >= 0:
            return
        context = self._context
        detail = self._lib.nfs_get_error(context) if context else None
        text = detail.decode(errors="replace") if detail else os.strerror(-code)
        raise NfsExportError(-code, f"{what} on {self.server}:{self.export}: {text}")


def _abs(path: str) -> bytes:
    return ("/" + path.lstrip("/")).encode()
