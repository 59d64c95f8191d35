"""``p3s-daqsim``: a synthetic protoDUNE-like detector writing raw HDF5 files with truth.

:mod:`.tpc` models the TPC readout, :mod:`.beam` and :mod:`.crt` the beam instrumentation and
cosmic-ray tagger streams, :mod:`.writer` writes files and truth sidecars, :mod:`.cli` is the
command line (including announcing files to the p3s server as the DAQ does).
"""
