"""Report-and-claim on the pilot's side: the finished report asks for the next job unless
the pilot is about to stop, and the job in the answer is run without another claim."""

from __future__ import annotations

from pilot.loop import EXIT_OK


def test_the_finished_report_brings_the_next_job(fake, make_pilot):
    first, second = fake.add_job("diag"), fake.add_job("diag")
    pilot = make_pilot(fake, max_jobs=2)
    assert pilot.run() == EXIT_OK
    assert fake.states() == {first: "finished", second: "finished"}
    asked = fake.reports_for(first)[-1]
    assert asked["state"] == "finished" and asked["claim"] == {"time_left": None}
    # One claim of its own, one inside the first report; none between the two jobs.
    assert fake.calls.sequence.count("claim") == 2
    seq = fake.calls.sequence
    assert seq.index(f"report {first} finished") < seq.index(f"report {second} running")
    assert "claim" not in seq[seq.index(f"report {first} finished") + 2 :]


def test_a_pilot_about_to_stop_does_not_ask(fake, make_pilot):
    job = fake.add_job("diag")
    fake.add_job("diag")
    pilot = make_pilot(fake, max_jobs=1)
    assert pilot.run() == EXIT_OK
    assert "claim" not in fake.reports_for(job)[-1]
    assert list(fake.states().values()).count("waiting") == 1  # nothing claimed and stranded
