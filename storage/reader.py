"""Seekable, read-only file objects over any backend, with byte counters (h5py reads them).

h5py accepts a Python file object (``h5py.File(fileobj, "r")``) and then asks only for the
byte ranges it needs: the superblock, the object headers, the B-trees and the chunks it reads.
Over the network each such read is one round trip, so small reads (HDF5 metadata: tens to
hundreds of bytes, scattered) are served from a small cache of aligned blocks, while large
reads (chunks: one FEMB is 128 x 6000 x 2 bytes = 1.5 MB) go straight through, uncached, so
that reading a tenth of the events moves about a tenth of the bytes.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import Any, Protocol

from storage import retry
from storage.errors import StorageError

BLOCK = 64 * 1024
CACHE_BLOCKS = 32


class Handle(Protocol):
    """What a backend opens: a size and positional reads."""

    size: int

    def read_at(self, offset: int, n: int) -> bytes: ...

    def close(self) -> None: ...


class Counters:
    """``bytes_read``: bytes handed to the caller; ``bytes_fetched``: bytes moved from the
    storage (network, disk); ``requests``: reads sent to the storage; ``retries``."""

    def __init__(self) -> None:
        self.bytes_read = 0
        self.bytes_fetched = 0
        self.requests = 0
        self.retry_count = [0]

    @property
    def retries(self) -> int:
        return self.retry_count[0]

    def as_dict(self) -> dict[str, int]:
        return {
            "bytes_read": self.bytes_read,
            "bytes_fetched": self.bytes_fetched,
            "requests": self.requests,
            "retries": self.retries,
        }


class _CountedReader(io.RawIOBase):
    """A readable, seekable raw stream with :class:`Counters` (``self.counters``)."""

    counters: Counters

    @property
    def bytes_read(self) -> int:
        return self.counters.bytes_read

    @property
    def bytes_fetched(self) -> int:
        return self.counters.bytes_fetched

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True


class InputFile(_CountedReader):
    """A read-only, seekable binary file over a backend :class:`Handle`.

    Parameters
    ----------
    url : str
        For messages.
    handle : Handle
        The open remote file.
    policy : retry.Policy
        Retries of each read on transient errors.
    block, cache_blocks : int
        Reads smaller than ``block`` are served from up to ``cache_blocks`` cached aligned
        blocks; larger ones go straight to the storage.
    """

    def __init__(
        self,
        url: str,
        handle: Handle,
        policy: retry.Policy = retry.DEFAULT,
        block: int = BLOCK,
        cache_blocks: int = CACHE_BLOCKS,
    ):
        self.url = url
        self.handle = handle
        self.size = int(handle.size)
        self.policy = policy
        self.block = block
        self.cache_blocks = cache_blocks
        self.counters = Counters()
        self._pos = 0
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    # -- io.RawIOBase (counters, readable and seekable: _CountedReader) --------------------

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        n = min(len(view), max(0, self.size - self._pos))
        if n <= 0:
            return 0
        if n >= self.block:
            data = self._fetch(self._pos, n)
        else:
            data = self._cached(self._pos, n)
        got = len(data)
        view[:got] = data
        self._pos += got
        self.counters.bytes_read += got
        return got

    def close(self) -> None:
        if not self.closed:
            try:
                self.handle.close()
            finally:
                self._cache.clear()
                super().close()

    # -- internals ------------------------------------------------------------------------
    def _fetch(self, offset: int, n: int) -> bytes:
        def once() -> bytes:
            return self.handle.read_at(offset, n)

        data = retry.call(once, f"read {self.url}", self.policy, self.counters.retry_count)
        self.counters.requests += 1
        self.counters.bytes_fetched += len(data)
        if len(data) < n and offset + len(data) < self.size:
            raise StorageError(self.url, f"short read: {len(data)} of {n} bytes at offset {offset}")
        return data

    def _block(self, index: int) -> bytes:
        data = self._cache.get(index)
        if data is not None:
            self._cache.move_to_end(index)
            return data
        start = index * self.block
        data = self._fetch(start, min(self.block, self.size - start))
        self._cache[index] = data
        while len(self._cache) > self.cache_blocks:
            self._cache.popitem(last=False)
        return data

    def _cached(self, offset: int, n: int) -> bytes:
        first, last = offset // self.block, (offset + n - 1) // self.block
        parts = [self._block(i) for i in range(first, last + 1)]
        joined = parts[0] if len(parts) == 1 else b"".join(parts)
        lo = offset - first * self.block
        return joined[lo : lo + n]


class LocalInputFile(_CountedReader):
    """A local file with the same counters (no cache: the page cache does that)."""

    def __init__(self, path: str):
        self.url = path
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._fh.seek(0, io.SEEK_END)
        self.size = self._fh.tell()
        self._fh.seek(0)
        self.counters = Counters()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def readinto(self, buf: Any) -> int:
        n = self._fh.readinto(buf) or 0
        self.counters.bytes_read += n
        self.counters.bytes_fetched += n
        self.counters.requests += 1
        return n

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
            super().close()
