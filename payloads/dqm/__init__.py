"""DQM computations: pure functions on numpy arrays, no I/O and no plotting.

:mod:`.adc` channel statistics and bad-channel finding, :mod:`.fft` spectra and line finding,
:mod:`.sig` signal processing (noise filtering, deconvolution, ROIs), :mod:`.reco` hits,
clusters and straight tracks. Plots live in :mod:`payloads.plots`.
"""
