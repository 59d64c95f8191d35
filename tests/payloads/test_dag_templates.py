"""The default DAG templates are well formed and name registered payloads."""

import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "p3s" / "dags" / "defaults"
STAGE_KEYS = {
    "payload",
    "args",
    "priority",
    "timeout",
    "max_attempts",
    "queue",
    "prescale",
    "event_fraction",
    "parents",
}


def registered_payloads() -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(data["project"]["entry-points"]["p3s.payloads"])


@pytest.mark.parametrize("name", ["tpc-dqm", "bi-dqm", "crt-dqm"])
def test_template_is_well_formed(name):
    dag = yaml.safe_load((DEFAULTS / f"{name}.yaml").read_text())
    assert dag["name"] == name and dag["enabled"] is True
    assert set(dag) <= {"name", "description", "enabled", "trigger", "stages", "policy"}
    assert dag["trigger"]["stream"] == name.split("-")[0]
    known = registered_payloads()
    stages = dag["stages"]
    for sname, st in stages.items():
        assert set(st) <= STAGE_KEYS, (sname, set(st) - STAGE_KEYS)
        assert st["payload"] in known
        assert 0 < st.get("prescale", 1.0) <= 1 and 0 < st.get("event_fraction", 1.0) <= 1
        for parent in st.get("parents", []):
            assert parent in stages
            # later stages run first
            assert st.get("priority", 0) > stages[parent].get("priority", 0)
        assert isinstance(st.get("args", {}), dict | list)
    # no cycles: a topological order exists
    done: set[str] = set()
    while len(done) < len(stages):
        ready = [
            s for s, st in stages.items() if s not in done and set(st.get("parents", [])) <= done
        ]
        assert ready, f"cycle among {set(stages) - done}"
        done |= set(ready)


def test_tpc_template_prescales_signal_processing():
    dag = yaml.safe_load((DEFAULTS / "tpc-dqm.yaml").read_text())
    assert dag["stages"]["sig"]["prescale"] < 1
    assert dag["stages"]["sig"]["parents"] == ["adcfft"]
    assert dag["stages"]["daq"]["prescale"] == dag["stages"]["adcfft"]["prescale"] == 1.0
