"""A fresh install has version 1 of the shipped conditions, derived from DETECTOR.md, and the
channel map is the one the synthetic data generator uses."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from p3s.conditions import services, shipped
from p3s.conditions.validation import check_data
from payloads.detector import DEFAULT

pytestmark = pytest.mark.django_db


def test_the_shipped_conditions_exist_after_migrating():
    for name in ("channel-map", "bad-channels", "bands"):
        condition = services.current_condition(name)
        assert condition is not None and condition.version == 1, name
        assert condition.owner == shipped.SHIPPED_OWNER
        assert condition.data == shipped.shipped_defaults()[name]


def test_loading_the_defaults_again_leaves_existing_names_alone():
    services.new_version("bands", shipped.shipped_defaults()["bands"], comment="expert copy")
    assert shipped.load_defaults() == []
    assert services.current_condition("bands").version == 2


def test_the_shipped_channel_map_is_the_generators_map():
    data = services.current_condition("channel-map").data
    assert data["n_channels"] == DEFAULT.n_channels == 2560
    assert data["planes"] == {"u": [0, 800], "v": [800, 1600], "x": [1600, 2560]}
    assert data["femb"] == [int(f) for f in DEFAULT.femb]
    assert data["asic"] == [int(a) % DEFAULT.asics_per_femb for a in DEFAULT.asic]
    # DETECTOR.md: a FEMB is 40 U + 40 V + 48 X channels, an ASIC 5 U + 5 V + 6 X.
    femb7 = [ch for ch, f in enumerate(data["femb"]) if f == 7]
    assert len(femb7) == 128
    assert [sum(1 for ch in femb7 if lo <= ch < hi) for lo, hi in data["planes"].values()] == [
        40,
        40,
        48,
    ]
    asic3 = [ch for ch in femb7 if data["asic"][ch] == 3]
    assert asic3 == [*range(295, 300), *range(1095, 1100), *range(1954, 1960)]


def test_the_shipped_bands_bracket_the_detector_md_pedestals_and_noise():
    planes = services.current_condition("bands").data["planes"]
    for plane, pedestal, noise in (("u", 2350, 4.0), ("v", 2350, 4.0), ("x", 900, 3.5)):
        warning = planes[plane]["pedestal"]["warning"]
        assert warning[0] < pedestal < warning[1]
        assert planes[plane]["rms"]["warning"][0] < noise < planes[plane]["rms"]["warning"][1]
    assert services.current_condition("bad-channels").data["channels"] == []


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("channel-map", {"n_channels": 2560}, "planes"),
        (
            "channel-map",
            {
                "n_channels": 4,
                "planes": {"u": [0, 1], "v": [1, 2], "x": [2, 4]},
                "femb": [0, 0, 0],
                "asic": [0, 0, 0, 9],
            },
            "femb: has 3 entries, expected 4",
        ),
        (
            "channel-map",
            {
                "n_channels": 4,
                "planes": {"u": [0, 1], "v": [1, 2], "x": [2, 4]},
                "femb": [0, 0, 0, 0],
                "asic": [0, 0, 0, 9],
            },
            "asic: entry 3 is 9",
        ),
        ("bad-channels", {"channels": [{"apa": 9, "channel": 1, "status": "dead"}]}, "apa"),
        ("bad-channels", {"channels": [{"apa": 0, "channel": 1, "status": "odd"}]}, "status"),
        (
            "bad-channels",
            {"channels": [{"apa": 0, "channel": 1, "status": "dead"}] * 2},
            "listed twice",
        ),
        ("bands", {"planes": {"u": {"rms": {"warning": [5, 2], "error": [1, 9]}}}}, "below"),
        ("bands", {"planes": {"u": {"rms": {"warning": [1, 12], "error": [2, 9]}}}}, "inside"),
        ("bands", {"planes": {"w": {}}}, "unknown plane"),
        ("bands", {"planes": {"u": {"rms": {"warning": [1, "a"], "error": [0, 9]}}}}, "finite"),
        ("anything", {"x": float("nan")}, "not a finite number"),
        ("anything", [1, 2], "JSON object"),
    ],
)
def test_bad_condition_data_is_refused_with_a_message_naming_the_place(name, data, message):
    with pytest.raises(ValidationError) as info:
        check_data(name, data)
    assert any(message in m for m in info.value.messages), info.value.messages


def test_an_unknown_name_needs_only_a_json_object():
    check_data("hv-map", {"apa": {"0": 180.0}})
