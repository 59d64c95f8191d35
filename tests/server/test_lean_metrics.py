"""The plain-Python reading of a metrics delivery (p3s.api.serializers.lean_metrics) takes
exactly what the serializer takes, as the serializer reads it, and leaves everything else to
the serializer (whose 400 the pilot gets)."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from p3s.api.serializers import MetricsSerializer, lean_metrics

texts = st.one_of(
    st.sampled_from(["apa", "plane", "femb", "0", "x", " pad ", "", "a" * 101, "\u0000", "é"]),
    st.text(max_size=6),
)
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20),
    st.booleans(),
    st.none(),
    st.sampled_from(["1.5", "nan", [], {}]),
)
names = st.one_of(
    st.sampled_from(["rms", "adc.rms_mean", "9bad", "", "n" * 101, "a b", "line:60Hz-x"]),
    st.text(max_size=8),
)
labels = st.one_of(
    st.dictionaries(texts, st.one_of(texts, st.integers(0, 9)), max_size=4),
    st.none(),
    st.sampled_from(["apa=1", [], {"k" * 101: "v"}]),
)
metric = st.one_of(
    st.fixed_dictionaries({"name": names, "value": values}, optional={"labels": labels}),
    st.sampled_from([{}, {"name": "rms"}, {"value": 1.0}, "rms", None, 1]),
)


def served(items):
    ser = MetricsSerializer(data={"metrics": items})
    if not ser.is_valid():
        return None
    return [dict(m) for m in ser.validated_data["metrics"]]


@settings(max_examples=600, deadline=None)
@given(st.lists(metric, min_size=0, max_size=4))
def test_lean_reading_takes_only_what_the_serializer_takes_and_reads_it_the_same(items):
    lean = lean_metrics(items)
    if lean is None:
        return  # the serializer reads it (and says what is wrong)
    assert lean == served(items)


def test_a_plain_delivery_is_read_lean():
    items = [
        {"name": "adc.rms", "value": 4, "labels": {"apa": "1", "plane": "u"}},
        {"name": "sig_charge", "value": 2.5e4},
    ]
    assert lean_metrics(items) == served(items)
    assert lean_metrics(items) is not None
    assert all(type(m["value"]) is float for m in lean_metrics(items))


def test_what_the_serializer_refuses_is_never_read_lean():
    for bad in (
        [],
        [{"name": "rms", "value": math.inf}],
        [{"name": "rms", "value": True}],
        [{"name": "rms", "value": 1.0, "labels": {"apa": "\u0000"}}],
        [{"name": "9rms", "value": 1.0}],
        [{"name": "rms", "value": 1.0}] * 5001,
    ):
        assert lean_metrics(bad) is None
