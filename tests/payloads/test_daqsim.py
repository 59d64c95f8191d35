"""p3s-daqsim: file layout, reproducibility, truth sidecar and announcing to the server."""

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import h5py
import numpy as np
import pytest

from payloads.daqsim import cli, writer
from payloads.daqsim.truth import load_tpc_truth
from payloads.detector import DEFAULT as DET
from payloads.rawio import RawFile


def test_raw_file_layout_is_chunked_by_femb(raw_file):
    with h5py.File(raw_file.path) as h5:
        assert h5.attrs["format"] == "p3s-raw-tpc/1"
        ds = h5["event_0/apa_0"]
        assert ds.shape == (2560, 6000) and ds.dtype == np.int16
        assert ds.chunks == (128, 6000) and ds.compression is None
        assert h5["index"].dtype.names == ("event", "group", "timestamp", "size", "flags")
        # rows in readout order: the first chunk is FEMB 0 = U 0-39, V 800-839, X 1600-1647
        first = np.sort(h5["channel_map"][:128])
        assert first.tolist() == list(range(40)) + list(range(800, 840)) + list(range(1600, 1648))


def test_reader_returns_offline_order(raw_file):
    truth = load_tpc_truth(raw_file.path)
    static = truth.static(0)
    with RawFile(raw_file.path) as raw:
        adc = raw.read_apa(0, 0)
    live = np.setdiff1d(np.arange(DET.n_channels), np.r_[static.dead, static.sticky, static.noisy])
    # the per-channel median sits on the channel's injected pedestal
    med = np.median(adc[live], axis=1)
    assert np.median(np.abs(med - static.pedestal[live])) < 1.0


def test_same_seed_gives_the_same_data(tmp_path):
    kw = dict(seed=9, run=2, subrun=4, n_events=1, apas=[0], start=datetime(2026, 1, 1, tzinfo=UTC))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = writer.write_tpc_file(tmp_path / "a", **kw)
    b = writer.write_tpc_file(tmp_path / "b", **kw)
    with h5py.File(a.path) as ha, h5py.File(b.path) as hb:
        assert np.array_equal(ha["event_0/apa_0"][()], hb["event_0/apa_0"][()])
    assert a.checksum == b.checksum and a.checksum.startswith("adler32:")


def test_truth_sidecar_lists_every_injected_feature(raw_file):
    truth = load_tpc_truth(raw_file.path)
    st = truth.static(0)
    ev = truth.event(0, 0)
    assert st.dead.size >= 1 and st.noisy.size >= 1 and st.sticky.size >= 1
    assert st.line_freqs.size == 2 and st.comb_channels.size == 96
    assert ev.coherent.shape == (60, 6000) and ev.tracks.size >= 0
    assert ev.stuck_tick.size == ev.stuck_true.size > 0
    assert ev.signal.shape == (2560, 6000)


class _Server(BaseHTTPRequestHandler):
    seen: list = []
    status = 201

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Server.seen.append((self.headers["Authorization"], body))
        known = any(b["url"] == body["url"] for _, b in _Server.seen[:-1])
        status = _Server.status if _Server.status != 201 else (200 if known else 201)
        payload = {"detail": "run must be positive"} if status >= 400 else {"id": len(_Server.seen)}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(("127.0.0.1", 0), _Server)
    _Server.seen = []
    _Server.status = 201
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_announce_posts_each_file_with_the_token(tmp_path, server, capsys):
    argv = [
        "--out",
        str(tmp_path),
        "--files",
        "2",
        "--stream",
        "crt",
        "--events",
        "3",
        "--quiet",
        "--announce",
        "--server",
        server,
        "--token",
        "abc",
    ]
    assert cli.main(argv) == 0
    assert len(_Server.seen) == 2
    auth, body = _Server.seen[0]
    assert auth == "Token abc"
    assert set(body) == {
        "url",
        "stream",
        "run",
        "subrun",
        "timestamp",
        "data_ts_end",  # one clock: the data time range
        "events",
        "size",
        "checksum",
    }
    assert body["url"].startswith("file:///") and Path(body["url"][7:]).is_file()
    assert body["stream"] == "crt" and body["events"] == 3 and body["timestamp"].endswith("Z")
    assert "announced (new)" in capsys.readouterr().out
    # the same files again: the server knows them (200)
    assert cli.main(argv) == 0
    assert "already known" in capsys.readouterr().out


def test_announce_refused_prints_the_server_message_and_fails(
    tmp_path, server, capsys, monkeypatch
):
    _Server.status = 400
    token_file = tmp_path / "tok"
    token_file.write_text("xyz\n")
    monkeypatch.setenv("P3S_TOKEN_FILE", str(token_file))
    monkeypatch.delenv("P3S_TOKEN", raising=False)
    code = cli.main(
        [
            "--out",
            str(tmp_path / "d"),
            "--stream",
            "bi",
            "--events",
            "2",
            "--quiet",
            "--announce",
            "--server",
            server,
        ]
    )
    assert code != 0
    err = capsys.readouterr().err
    assert "HTTP 400" in err and "run must be positive" in err
    assert _Server.seen[0][0] == "Token xyz"


def test_announce_without_a_token_says_how_to_give_one(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("P3S_TOKEN", raising=False)
    monkeypatch.delenv("P3S_TOKEN_FILE", raising=False)
    assert cli.main(["--out", str(tmp_path), "--stream", "bi", "--quiet", "--announce"]) != 0
    assert "--token" in capsys.readouterr().err


def test_truth_sidecars_do_not_match_the_raw_file_pattern(raw_file):
    assert raw_file.truth.is_file()
    assert sorted(raw_file.path.parent.glob("*.h5")) == [raw_file.path]
