"""Detector numbers and channel maps (protoDUNE single-phase style; see DETECTOR.md).

Offline channel order within an APA: U 0-799, V 800-1599, collection (X) 1600-2559.
Readout order: FEMB ``f`` (0-19) carries 8 ASICs of 16 channels; ASIC ``a`` channel ``k`` is

* ``k`` 0-4: U ``40 f + 5 a + k``
* ``k`` 5-9: V ``800 + 40 f + 5 a + (k - 5)``
* ``k`` 10-15: X ``1600 + 48 f + 6 a + (k - 10)``

so one FEMB is 40 U + 40 V + 48 X channels, contiguous in readout order but in three
separate runs in offline order. Raw files store rows in readout order (one FEMB = one
HDF5 chunk); :func:`offline_order` gives the permutation back to offline order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

PLANES = ("u", "v", "x")


@dataclass(frozen=True)
class Detector:
    """Numbers of one APA's readout; every one is configurable."""

    n_apas: int = 6
    n_u: int = 800
    n_v: int = 800
    n_x: int = 960
    n_ticks: int = 6000
    tick_us: float = 0.5
    n_fembs: int = 20
    asics_per_femb: int = 8
    asic_u: int = 5
    asic_v: int = 5
    asic_x: int = 6
    adc_max: int = 4095
    drift_mm_per_tick: float = 0.8  # 1.6 mm/us
    pitch_x_mm: float = 4.79
    pitch_uv_mm: float = 4.67

    @property
    def n_channels(self) -> int:
        return self.n_u + self.n_v + self.n_x

    @property
    def sampling_hz(self) -> float:
        return 1e6 / self.tick_us

    @property
    def n_freqs(self) -> int:
        return self.n_ticks // 2 + 1

    @property
    def channels_per_femb(self) -> int:
        return self.asics_per_femb * (self.asic_u + self.asic_v + self.asic_x)

    def freqs(self) -> np.ndarray:
        """Frequencies (Hz) of the rfft bins of one readout window."""
        return np.fft.rfftfreq(self.n_ticks, d=self.tick_us * 1e-6)

    @cached_property
    def readout_to_offline(self) -> np.ndarray:
        """Offline channel of each readout row (FEMB-major order)."""
        out = np.empty(self.n_channels, dtype=np.int64)
        per_asic = self.asic_u + self.asic_v + self.asic_x
        row = 0
        for f in range(self.n_fembs):
            for a in range(self.asics_per_femb):
                for k in range(per_asic):
                    if k < self.asic_u:
                        ch = (self.asics_per_femb * self.asic_u) * f + self.asic_u * a + k
                    elif k < self.asic_u + self.asic_v:
                        ch = (
                            self.n_u
                            + (self.asics_per_femb * self.asic_v) * f
                            + self.asic_v * a
                            + (k - self.asic_u)
                        )
                    else:
                        ch = (
                            self.n_u
                            + self.n_v
                            + (self.asics_per_femb * self.asic_x) * f
                            + self.asic_x * a
                            + (k - self.asic_u - self.asic_v)
                        )
                    out[row] = ch
                    row += 1
        return out

    @cached_property
    def offline_order(self) -> np.ndarray:
        """Row index of each offline channel: ``offline = rows[offline_order]``."""
        return np.argsort(self.readout_to_offline)

    @cached_property
    def plane_index(self) -> np.ndarray:
        """Plane (0 = U, 1 = V, 2 = X) of each offline channel."""
        out = np.full(self.n_channels, 2, dtype=np.int64)
        out[: self.n_u] = 0
        out[self.n_u : self.n_u + self.n_v] = 1
        return out

    @cached_property
    def femb(self) -> np.ndarray:
        """FEMB (0-19) of each offline channel."""
        return self.offline_order // self.channels_per_femb

    @cached_property
    def asic(self) -> np.ndarray:
        """Global ASIC number in the APA (FEMB x 8 + ASIC) of each offline channel."""
        per_asic = self.asic_u + self.asic_v + self.asic_x
        return self.offline_order // per_asic

    @cached_property
    def group(self) -> np.ndarray:
        """FEMB-plane group (FEMB x 3 + plane, 60 per APA) of each offline channel."""
        return self.femb * 3 + self.plane_index

    def plane_slice(self, plane: str | int) -> slice:
        """Offline channel range of a plane (``"u"``, ``"v"``, ``"x"`` or 0-2)."""
        p = PLANES.index(plane) if isinstance(plane, str) else plane
        edges = (0, self.n_u, self.n_u + self.n_v, self.n_channels)
        return slice(edges[p], edges[p + 1])

    def group_channels(self, plane: int) -> np.ndarray:
        """Offline channels of a plane's FEMB groups as an (n_fembs, n_per_group) array.

        By construction each FEMB reads a contiguous offline range of each plane.
        """
        sl = self.plane_slice(plane)
        return np.arange(sl.start, sl.stop).reshape(self.n_fembs, -1)


DEFAULT = Detector()
