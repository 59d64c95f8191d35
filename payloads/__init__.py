"""The science: DQM stage payloads and the synthetic detector.

Payloads never import Django or the pilot. Each stage is a thin command-line shell
(``main(argv) -> int``) registered under the ``p3s.payloads`` entry-point group; the pilot
runs it as a subprocess in a fresh work directory and hands it the job through
:mod:`payloads.jobio`.
"""
