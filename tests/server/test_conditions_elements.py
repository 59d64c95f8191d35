"""A detector element is named by its labels without the context labels (run, subrun, file,
event, job): the same APA plane in two runs is one element."""

from p3s.conditions.models import hist_key
from p3s.dqm.series import element_key, element_labels


def test_context_labels_are_not_part_of_an_element():
    labels = {"run": 7, "subrun": "3", "file": "f.h5", "event": 2, "job": "9", "apa": 1}
    assert element_labels(labels) == {"apa": "1"}


def test_other_identity_labels_are_kept_and_values_become_text():
    labels = {"apa": 2, "plane": "x", "femb": 7, "freq_khz": "310", "stream": "tpc"}
    assert element_labels(labels) == {
        "apa": "2",
        "femb": "7",
        "freq_khz": "310",
        "plane": "x",
        "stream": "tpc",
    }


def test_the_key_is_the_same_whatever_the_order_and_the_run():
    a = element_key({"plane": "u", "apa": "1", "run": "5"})
    b = element_key({"apa": 1, "plane": "u", "run": "6", "job": "2"})
    assert a == b == '{"apa": "1", "plane": "u"}'
    assert element_key(None) == element_key({}) == "{}"


def test_a_histograms_element_leaves_out_its_hist_name():
    assert hist_key({"hist": "adc_rms", "apa": "1", "run": "3"}) == element_key({"apa": "1"})
