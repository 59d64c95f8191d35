#!/usr/bin/env python3
"""Per-core speed of the DQM payloads on one synthetic (2560, 6000) APA-event.

``run(quick=False) -> dict`` is imported by the main bench script (``make bench``); run this file
directly to print the figures. Figures:

* ADC+FFT throughput (MB/s of raw int16 per core) next to a bare ``scipy.fft.rfft`` of the same
  array measured in the same run, and their ratio (goal >= 70 %). Three baselines: the rfft of
  the array converted to float32 beforehand (the strictest), ``scipy.fft.rfft`` called on the
  int16 array as given (scipy then works in float64), and int16 -> float32 conversion plus rfft;
* SIG seconds per APA-event per core (goal <= 1.5 s; Wire-Cell takes about 10 s);
* RECO seconds per APA-event.

All FFTs use ``workers=1``; numpy is single-threaded. Each figure is the best of a few repeats,
since the machine is shared.

``--ab COMMIT`` (``python scripts/bench_payloads.py --ab 8e51643``) times instead, in this one
process, the ADC+FFT work of ``COMMIT`` (:mod:`adcfft_reference`) and of this tree
alternately on the same APA-event, each next to a bare float32 rfft, and prints per round
both times, both ratios and the load average; numba's first-call (compile or cache-load) cost
is timed apart and kept out of the figures.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import scipy.fft as sfft

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from payloads.daqsim.tpc import SimConfig, simulate_apa  # noqa: E402
from payloads.detector import DEFAULT as DET  # noqa: E402
from payloads.dqm import adc as adcm  # noqa: E402
from payloads.dqm import fft as fftm  # noqa: E402
from payloads.dqm.reco import reconstruct_collection  # noqa: E402
from payloads.dqm.sig import SigConfig, process_apa  # noqa: E402
from payloads.stages.adcfft import analyse_event  # noqa: E402


def _best(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: FFT plans, page faults
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(quick: bool = False) -> dict:
    """Measure and return the figures (seconds, MB/s, ratios) as a flat dict."""
    repeats = 2 if quick else 5
    adc, _, _ = simulate_apa(SimConfig(line_apas=(0,)), seed=1, event=0)
    mb = adc.nbytes / 1e6
    f32 = adc.astype(np.float32)

    work = np.empty(adc.shape, dtype=np.float32)
    pbuf = np.empty((adc.shape[0], adc.shape[1] // 2 + 1), dtype=np.float32)

    def bare() -> None:
        np.copyto(work, adc, casting="unsafe")
        sfft.rfft(work, axis=1, workers=1, overwrite_x=True)

    t_rfft = _best(lambda: sfft.rfft(f32, axis=1, workers=1), repeats)
    # the literal call on the raw array: scipy upcasts int16 to float64
    t_rfft_raw = _best(lambda: sfft.rfft(adc, axis=1, workers=1), repeats)
    t_bare = _best(bare, repeats)

    def adcfft_one() -> None:
        # what dqm-adcfft does per APA-event once the data are in memory: statistics, power,
        # bad channels, spectra per ASIC/FEMB/plane, localised lines and combs, comb score,
        # board health
        analyse_event(adc, DET)

    t_adcfft = _best(adcfft_one, repeats)
    t_stats = _best(lambda: adcm.compute_channel_stats(adc), repeats)
    t_power = _best(lambda: fftm.compute_power(adc, workers=1, out=pbuf, work=work), repeats)

    stats = adcm.compute_channel_stats(adc)
    bad = adcm.find_bad_channels(stats, DET)
    cfg = SigConfig(workers=1)
    holder: dict = {}

    def sig_one() -> None:
        holder["res"] = process_apa(
            adc, DET, cfg, sticky=bad["sticky"], bad=bad["dead"] | bad["noisy"]
        )

    t_sig = _best(sig_one, max(1, repeats // 2))
    res = holder["res"]
    t_reco = _best(
        lambda: reconstruct_collection(res.deconvolved, res.rms_deconvolved, DET),
        max(1, repeats // 2),
    )
    return {
        "apa_event_mb": round(mb, 2),
        "rfft_seconds": round(t_rfft, 4),
        "rfft_mb_per_s": round(mb / t_rfft, 1),
        "adcfft_seconds": round(t_adcfft, 4),
        "adcfft_mb_per_s": round(mb / t_adcfft, 1),
        "adcfft_over_rfft": round(t_rfft / t_adcfft, 3),
        "rfft_int16_as_given_seconds": round(t_rfft_raw, 4),
        "adcfft_over_rfft_int16_as_given": round(t_rfft_raw / t_adcfft, 3),
        "convert_and_rfft_seconds": round(t_bare, 4),
        "adcfft_over_convert_and_rfft": round(t_bare / t_adcfft, 3),
        "adcfft_goal_ratio": 0.70,
        "adc_stats_seconds": round(t_stats, 4),
        "fft_power_seconds": round(t_power, 4),
        "sig_seconds_per_apa_event": round(t_sig, 3),
        "sig_goal_seconds": 1.5,
        "wirecell_seconds_per_apa_event": 10.0,
        "reco_seconds_per_apa_event": round(t_reco, 3),
    }


def run_ab(commit: str, rounds: int = 4, repeats: int = 5) -> Iterator[dict]:
    """Old (``commit``) and new ADC+FFT per APA-event, alternated ``rounds`` times in this
    process (best of ``repeats`` each, wall and CPU time), each round with a bare float32 rfft
    of the same array."""
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import adcfft_reference

    from payloads.stages import adcfft

    old = adcfft_reference.load(commit)
    pkg = old.__name__.rsplit(".", 2)[0]
    old_adc, old_fft = sys.modules[pkg + ".dqm.adc"], sys.modules[pkg + ".dqm.fft"]
    adc, _, _ = simulate_apa(SimConfig(line_apas=(0,)), seed=1, event=0)
    f32 = adc.astype(np.float32)

    def run_old() -> None:
        stats = old_adc.compute_channel_stats(adc)
        old.analyse_apa(stats, old_fft.compute_power(adc, workers=1), old.DEFAULT, waves=[adc])

    def run_new() -> None:
        adcfft.analyse_event(adc, DET)

    first = {}
    for name, fn in (("old", run_old), ("new", run_new)):
        t0 = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - t0
    yield {"first_call_s": {k: round(v, 2) for k, v in first.items()}}
    for r in range(rounds):
        row: dict = {"round": r, "load": round(os.getloadavg()[0], 1)}
        for clock, name in ((time.perf_counter, "wall"), (time.thread_time, "cpu")):

            def best(fn, clock=clock) -> float:
                times = []
                for _ in range(repeats):
                    t0 = clock()
                    fn()
                    times.append(clock() - t0)
                return min(times)

            order = (("old", run_old), ("new", run_new))
            for label, fn in order if r % 2 == 0 else order[::-1]:
                row[f"{label}_{name}_s"] = round(best(fn), 4)
            row[f"rfft_{name}_s"] = round(best(lambda: sfft.rfft(f32, axis=1, workers=1)), 4)
            for label in ("old", "new"):
                row[f"{label}_{name}_ratio"] = round(
                    row[f"rfft_{name}_s"] / row[f"{label}_{name}_s"], 3
                )
        yield row


def main() -> int:
    if "--ab" in sys.argv[1:]:
        commit = sys.argv[sys.argv.index("--ab") + 1]
        for row in run_ab(commit):
            print(json.dumps(row), flush=True)
        return 0
    figures = run(quick="--quick" in sys.argv[1:])
    width = max(map(len, figures))
    for k, v in figures.items():
        print(f"{k:<{width}}  {v}")
    if "--json" in sys.argv[1:]:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
