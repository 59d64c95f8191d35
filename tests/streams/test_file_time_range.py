"""Every announced file carries its data time range: given in the body, else read from the
file's attributes when the file is local, else an instant; an end before the start is a 400."""

from datetime import UTC, datetime, timedelta

import h5py
import pytest

from p3s.dags.models import DataFile
from tests.conftest import FANOUT_JOIN

pytestmark = pytest.mark.django_db

FILE = {
    "url": "file:///d/run5/r5_1.h5",
    "stream": "diag",
    "run": 5,
    "subrun": 1,
    "timestamp": "2026-11-22T03:00:00Z",
}


def test_the_range_given_at_announcement_is_stored_and_shown(daq, operator):
    r = daq.post("/api/v1/files/", {**FILE, "data_ts_end": "2026-11-22T03:00:32.4Z"}, format="json")
    assert r.status_code == 201, r.content
    f = DataFile.objects.get()
    assert f.data_ts_end - f.data_ts == timedelta(seconds=32.4)
    shown = operator.get(f"/api/v1/files/{f.pk}/").json()
    assert shown["data_ts_end"].startswith("2026-11-22T03:00:32.4")


def test_without_a_range_a_local_file_gives_its_own(daq, tmp_path):
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["time_end"] = "2026-11-22T03:00:05.003000Z"
    r = daq.post("/api/v1/files/", {**FILE, "url": path.as_uri()}, format="json")
    assert r.status_code == 201, r.content
    f = DataFile.objects.get()
    assert f.data_ts_end == datetime(2026, 11, 22, 3, 0, 5, 3000, tzinfo=UTC)


def test_without_a_range_or_a_readable_file_the_file_is_an_instant(daq):
    r = daq.post("/api/v1/files/", {**FILE, "url": "root://eos//d/r5_1.h5"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["data_ts_end"] == r.json()["timestamp"]
    assert DataFile.objects.get().data_end == DataFile.objects.get().data_ts


@pytest.mark.parametrize("end", ["2026-11-22T02:59:59Z", "later", "2026-13-01T00:00:00Z"])
def test_a_range_ending_before_it_starts_or_unreadable_is_400_and_changes_nothing(
    daq, make_dag, end
):
    make_dag(FANOUT_JOIN)
    r = daq.post("/api/v1/files/", {**FILE, "data_ts_end": end}, format="json")
    assert r.status_code == 400
    assert r.json()["detail"].startswith("data_ts_end"), r.json()
    assert DataFile.objects.count() == 0
