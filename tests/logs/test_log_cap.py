"""The pilot packs a job's whole log: gzip, and a log over the cap keeps its head and tail
with one line saying how many bytes were cut (pilot/joblog.py)."""

from __future__ import annotations

import gzip
import re

from pilot import joblog
from pilot.runner import LOG_NAME


def write_log(tmp_path, lines: int, width: int = 100) -> bytes:
    data = b"".join(b"line %07d " % i + b"x" * (width - 14) + b"\n" for i in range(lines))
    (tmp_path / LOG_NAME).write_bytes(data)
    return data


def test_a_log_under_the_cap_is_sent_whole_with_the_pilots_line(tmp_path):
    data = write_log(tmp_path, 500)
    packed = joblog.pack(tmp_path, "[p3s pilot: job 1 attempt 1: failed]", cap=1024 * 1024)
    assert packed is not None and packed.cut == 0 and packed.size == len(data)
    text = gzip.decompress(packed.path.read_bytes())
    assert text == data + b"\n[p3s pilot: job 1 attempt 1: failed]\n"
    assert packed.path.stat().st_size < len(data) / 5  # it compresses


def test_a_huge_log_keeps_head_and_tail_and_says_how_much_was_cut(tmp_path):
    data = write_log(tmp_path, 200_000)  # 20 MB
    cap = 1_000_000
    packed = joblog.pack(tmp_path, "", cap=cap)
    assert packed is not None
    out = gzip.decompress(packed.path.read_bytes())
    marker = re.search(
        rb"\n\[p3s pilot: (\d+) bytes cut here from the middle of this (\d+)-byte", out
    )
    assert marker, out[cap // 2 - 200 : cap // 2 + 400]
    cut, size = int(marker.group(1)), int(marker.group(2))
    assert size == len(data) == packed.size
    head, tail = out[: marker.start()], out[out.index(b"]\n", marker.end()) + 2 :]
    assert cut == packed.cut == len(data) - len(head) - len(tail)
    assert len(head) + len(tail) <= cap and len(head) + len(tail) > cap - 2 * joblog.LINE_SLACK
    assert data.startswith(head) and data.endswith(tail)  # the real first and last bytes
    assert head.endswith(b"\n") and tail.startswith(b"line ")  # cut at line ends
    assert b"line 0000000 " in head and b"line 0199999 " in tail


def test_a_cut_inside_one_endless_line_still_keeps_the_cap(tmp_path):
    (tmp_path / LOG_NAME).write_bytes(b"y" * 50_000)  # no newline at all
    packed = joblog.pack(tmp_path, "", cap=10_000)
    assert packed is not None and packed.cut == 40_000
    out = gzip.decompress(packed.path.read_bytes())
    assert out.startswith(b"y" * 5000 + b"\n[p3s pilot: 40000 bytes cut") and out.endswith(
        b"y" * 5000
    )


def test_no_log_and_no_footer_is_nothing_to_send(tmp_path):
    assert joblog.pack(tmp_path, "") is None
    only = joblog.pack(tmp_path, "[p3s pilot: job 3: failed]")
    assert only is not None and gzip.decompress(only.path.read_bytes()).strip() == (
        b"[p3s pilot: job 3: failed]"
    )


def test_the_cap_comes_from_the_environment():
    assert joblog.max_bytes({}) == 20 * 1024 * 1024
    assert joblog.max_bytes({"P3S_LOG_MAX_BYTES": "5000"}) == 5000
    assert joblog.max_bytes({"P3S_LOG_MAX_BYTES": "12"}) == joblog.MIN_MAX_BYTES
    assert joblog.max_bytes({"P3S_LOG_MAX_BYTES": "lots"}) == joblog.DEFAULT_MAX_BYTES
