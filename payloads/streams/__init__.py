"""Science across streams on one clock: beam-on/off tagging of TPC events from BI spill times
(:mod:`payloads.streams.beamtag`) and CRT-TPC muon matching (:mod:`payloads.streams.crtmatch`)."""
