"""Reading raw files: layout checks in one place, event selection, byte accounting.

Raw TPC file layout (written by :mod:`payloads.daqsim`)::

    /                 attrs: format="p3s-raw-tpc/1", stream, run, subrun, timestamp (ISO UTC),
                             n_events, apas (list), n_channels, n_ticks, tick_us
    /channel_map      (n_channels,) int32: offline channel of each readout row
    /index            (n_events,) compound: event, group, timestamp (unix s), size (bytes), flags
    /event_<n>/       attrs: event, timestamp, trigger, flags, fembs_present (per APA bit mask)
    /event_<n>/apa_<k>  (n_channels, n_ticks) int16, rows in readout (FEMB) order,
                        chunks (128, n_ticks) = one FEMB, uncompressed

BI and CRT files carry ``format`` ``p3s-raw-bi/1`` and ``p3s-raw-crt/1``, the same ``/index``,
and one group per event (see :mod:`payloads.daqsim.beam` and :mod:`payloads.daqsim.crt`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import storage
from payloads.detector import DEFAULT, Detector
from payloads.errors import RawFileError

FORMAT_TPC = "p3s-raw-tpc/1"
FORMAT_BI = "p3s-raw-bi/1"
FORMAT_CRT = "p3s-raw-crt/1"

INDEX_DTYPE = np.dtype(
    [("event", "i8"), ("group", "S24"), ("timestamp", "f8"), ("size", "i8"), ("flags", "i4")]
)


def event_group(event: int) -> str:
    """Name of an event's group."""
    return f"event_{event}"


def apa_dataset(apa: int) -> str:
    """Name of an APA's dataset inside an event group."""
    return f"apa_{apa}"


def select_events(n_events: int, fraction: float) -> np.ndarray:
    """Evenly spaced, deterministic choice of ``round(n_events x fraction)`` (at least 1) events.

    Parameters
    ----------
    n_events : int
        Events in the file.
    fraction : float
        Fraction to keep, ``0 < fraction <= 1``.

    Returns
    -------
    numpy.ndarray
        Sorted positions (0-based) in the file's event index.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"event fraction must be in (0, 1], got {fraction}")
    if n_events <= 0:
        return np.zeros(0, dtype=np.int64)
    k = max(1, min(n_events, round(n_events * fraction)))
    return np.unique(np.floor((np.arange(k) + 0.5) * n_events / k).astype(np.int64))


class RawFile:
    """An open raw file with its layout checked; use as a context manager.

    Parameters
    ----------
    path : str, Path or storage.Location
        The HDF5 file: a path or a URL (``file://``, ``root://``, ``http(s)://``).
    expect : str
        Expected ``format`` attribute (``FORMAT_TPC``, ``FORMAT_BI``, ``FORMAT_CRT``).
    det : Detector
        Geometry the TPC datasets must match.
    """

    def __init__(
        self, path: str | Path | storage.Location, expect: str = FORMAT_TPC, det: Detector = DEFAULT
    ):
        # A path, a file:// URL, or any URL the storage layer reads (root://, https://...):
        # h5py reads through the storage file object, so only the needed ranges move.
        try:
            self.path = storage.location(str(path))
        except storage.UnsupportedScheme as exc:
            raise RawFileError(f"raw file {path}: {exc.reason}") from exc
        self.det = det
        if isinstance(self.path, Path) and not self.path.is_file():
            raise RawFileError(f"raw file {self.path}: does not exist or is not a file")
        try:
            self._raw = storage.open_input(str(self.path))
        except (storage.NotFound, storage.PermissionRefused) as exc:
            raise RawFileError(f"raw file {self.path}: {exc.reason}") from exc
        try:
            self.h5 = h5py.File(self._raw, "r")
        except OSError as exc:
            self._raw.close()
            raise RawFileError(
                f"raw file {self.path}: cannot be opened as HDF5 ({_short(exc)}); "
                "the file is truncated or not HDF5"
            ) from exc
        try:
            self._check_header(expect)
        except Exception:
            self.close()
            raise

    def _check_header(self, expect: str) -> None:
        attrs = self.h5.attrs
        fmt = attrs.get("format")
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt != expect:
            raise RawFileError(
                f"raw file {self.path}: format attribute is {fmt!r}, expected {expect!r}"
            )
        if "index" not in self.h5:
            raise RawFileError(f"raw file {self.path}: missing the event index dataset /index")
        try:
            self.index = self.h5["index"][()]
        except (OSError, KeyError) as exc:
            raise RawFileError(f"raw file {self.path}: cannot read /index ({_short(exc)})") from exc
        if self.index.dtype.names is None or "event" not in self.index.dtype.names:
            raise RawFileError(f"raw file {self.path}: /index has no 'event' field")
        self.attrs = {k: _plain(v) for k, v in attrs.items()}
        if expect == FORMAT_TPC:
            shape = (int(attrs.get("n_channels", -1)), int(attrs.get("n_ticks", -1)))
            want = (self.det.n_channels, self.det.n_ticks)
            if shape != want:
                raise RawFileError(
                    f"raw file {self.path}: header says {shape} channels x ticks, expected {want}"
                )
            self.apas = [int(a) for a in attrs.get("apas", [])]
            if not self.apas:
                raise RawFileError(f"raw file {self.path}: header lists no APAs")
            if "channel_map" not in self.h5:
                raise RawFileError(f"raw file {self.path}: missing /channel_map")
            cmap = self.h5["channel_map"][()]
            if not np.array_equal(np.sort(cmap), np.arange(self.det.n_channels)):
                raise RawFileError(
                    f"raw file {self.path}: /channel_map is not a permutation of "
                    f"0..{self.det.n_channels - 1}"
                )
            self.row_of_channel = np.argsort(cmap)

    # -- events ---------------------------------------------------------------------------------
    @property
    def n_events(self) -> int:
        return int(self.index.size)

    @property
    def bytes_read(self) -> int:
        """Bytes moved from the storage so far (headers, index and data)."""
        return self._raw.bytes_fetched

    @property
    def size(self) -> int:
        """The file's size in bytes (from the storage: no local stat needed)."""
        return int(self._raw.size)

    @property
    def io_counters(self) -> dict[str, int]:
        """The storage counters: bytes read and fetched, requests, retries."""
        return self._raw.counters.as_dict()

    def event_numbers(self) -> np.ndarray:
        return self.index["event"].astype(np.int64)

    def group(self, pos: int) -> h5py.Group:
        """The group of the event at position ``pos`` of the index, checked to exist."""
        name = self.index["group"][pos]
        name = name.decode() if isinstance(name, bytes) else str(name)
        if name not in self.h5:
            raise RawFileError(
                f"raw file {self.path}: event group /{name} listed in /index is missing"
            )
        return self.h5[name]

    def event_attrs(self, pos: int) -> dict[str, Any]:
        return {k: _plain(v) for k, v in self.group(pos).attrs.items()}

    def read_apa(self, pos: int, apa: int, out: np.ndarray | None = None) -> np.ndarray:
        """ADC codes of one APA-event in offline channel order, ``(n_channels, n_ticks)`` int16."""
        grp = self.group(pos)
        name = apa_dataset(apa)
        where = f"/{grp.name.strip('/')}/{name}"
        if name not in grp:
            raise RawFileError(f"raw file {self.path}: dataset {where} is missing")
        ds = grp[name]
        want = (self.det.n_channels, self.det.n_ticks)
        if ds.shape != want:
            raise RawFileError(
                f"raw file {self.path}: dataset {where} has shape {ds.shape}, expected {want}"
            )
        if ds.dtype != np.int16:
            raise RawFileError(
                f"raw file {self.path}: dataset {where} has type {ds.dtype}, expected int16"
            )
        rows = np.empty(want, dtype=np.int16)
        try:
            ds.read_direct(rows)
        except (OSError, ValueError) as exc:
            raise RawFileError(
                f"raw file {self.path}: cannot read {where} ({_short(exc)}); "
                "the file is probably truncated"
            ) from exc
        if out is None:
            return rows[self.row_of_channel]
        np.take(rows, self.row_of_channel, axis=0, out=out)
        return out

    def read_femb(self, pos: int, apa: int, femb: int) -> tuple[np.ndarray, np.ndarray]:
        """One FEMB of one APA-event (one HDF5 chunk): ``(offline channels, (128, n_ticks) int16)``."""
        grp = self.group(pos)
        name = apa_dataset(apa)
        if name not in grp:
            raise RawFileError(
                f"raw file {self.path}: dataset /{grp.name.strip('/')}/{name} is missing"
            )
        n = self.det.channels_per_femb
        rows = slice(femb * n, (femb + 1) * n)
        try:
            data = grp[name][rows]
        except (OSError, ValueError) as exc:
            raise RawFileError(
                f"raw file {self.path}: cannot read FEMB {femb} of {name} ({_short(exc)})"
            ) from exc
        return self.det.readout_to_offline[rows], data

    def close(self) -> None:
        try:
            self.h5.close()
        except Exception:  # noqa: BLE001 - closing a broken file must not mask the real error
            pass
        self._raw.close()

    def __enter__(self) -> RawFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str) and value.startswith("{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
