"""Stage payloads: thin command-line shells around :mod:`payloads.dqm` (one module per stage).

Entry points (``p3s.payloads`` group): ``dqm-daq``, ``dqm-adcfft``, ``dqm-sig``, ``dqm-reco``,
``dqm-vis``, ``dqm-bi``, ``dqm-crt``.
"""
