"""
Fuzzing the frame decoder and the message layer with hypothesis: random bytes,
truncated frames and huge length prefixes, invalid UTF-8 and JSON, wrong message
shapes, data frames and ends out of sequence, before and after a login.

For every input: nothing escapes the session, every error is well formed with a
known code and no internals, a connection-level error closes, buffered memory
stays within one frame and one read, and the server goes on serving others.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftpkit.server.factory import ServerFactory
from tests.unit.fuzzkit import Probe, frame, fuzz_factory, json_values, still_serves

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ServerFactory]]:
    tmp = tmp_path_factory.mktemp("fuzz-frames")
    yield tmp, fuzz_factory(tmp)


def run(server: tuple[Path, ServerFactory], data: bytes, chunk: int, login: bool) -> Probe:
    tmp, factory = server
    probe = Probe(tmp, factory)
    try:
        if login:
            probe.login()
        probe.feed(data, chunk)
    finally:
        probe.close()
    still_serves(tmp, factory)
    return probe


@FUZZ
@given(data=st.binary(max_size=3000), chunk=st.integers(1, 4096), login=st.booleans())
def test_random_bytes(server: tuple[Path, ServerFactory], data: bytes, chunk: int,
                      login: bool) -> None:
    run(server, data, chunk, login)


@FUZZ
@given(length=st.integers(0, 2**32 - 1), body=st.binary(max_size=200),
       login=st.booleans())
def test_truncated_frames_and_huge_length_prefixes(server: tuple[Path, ServerFactory],
                                                   length: int, body: bytes,
                                                   login: bool) -> None:
    probe = run(server, struct.pack(">I", length) + body, 64, login)
    limit = 64 * 1024 if login else 4096
    if length > limit:  # refused on the prefix, before any body is read
        assert probe.fatal is not None and probe.fatal["code"] == "frame_too_large"
    elif length == 0:
        assert probe.fatal is not None and probe.fatal["code"] == "bad_frame"


def control_bodies() -> st.SearchStrategy[bytes]:
    requests = st.fixed_dictionaries(
        {"type": st.sampled_from(["request", "end", "hello", "ok", "error", "continue", "x"])},
        optional={"id": json_values, "command": json_values, "args": json_values,
                  "checksum": json_values, "abort": json_values})
    return st.one_of(
        st.binary(max_size=300),  # anything, invalid UTF-8 included
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
        json_values.map(lambda v: json.dumps(v).encode()),
        requests.map(lambda v: json.dumps(v).encode()),
        st.sampled_from([b"", b"{", b'{"type":"request"', b"\xef\xbb\xbf{}", b"NaN",
                         b'{"type":"request","id":1e400}', b"[" * 5000,
                         b'{"type":"request","id":1,"command":"pwd","args":{"a":"\\ud800"}}',
                         b'{"type":"request","id":' + b"9" * 5000 + b"}"]),
    )


frames = st.one_of(
    st.tuples(st.just(0x43), control_bodies()),
    st.tuples(st.just(0x44), st.binary(max_size=500)),  # data frames, in or out of place
    st.tuples(st.integers(0, 255), st.binary(max_size=50)),  # any kind byte
)


@FUZZ
@given(sequence=st.lists(frames, max_size=8), chunk=st.integers(1, 1024),
       login=st.booleans())
def test_sequences_of_frames(server: tuple[Path, ServerFactory],
                             sequence: list[tuple[int, bytes]], chunk: int,
                             login: bool) -> None:
    data = b"".join(frame(kind, body) for kind, body in sequence)
    run(server, data, chunk, login)


def put_then(next_frames: list[tuple[int, bytes]]) -> bytes:
    put = {"type": "request", "id": 7, "command": "put",
           "args": {"path": "fuzz.bin", "size": 10}}
    return frame(0x43, json.dumps(put).encode()) + b"".join(frame(k, b) for k, b in next_frames)


upload_frames = st.one_of(
    st.tuples(st.just(0x44), st.binary(max_size=8)),
    st.builds(lambda rid, abort: (0x43, json.dumps(
        {"type": "end", "id": rid, **({"abort": True} if abort else {"checksum": "00"})}
    ).encode()), st.sampled_from([7, 8, 0]), st.booleans()),
    st.just((0x43, b'{"type":"request","id":9,"command":"pwd"}')),
)


@FUZZ
@given(sequence=st.lists(upload_frames, max_size=8))
def test_data_frames_and_ends_out_of_sequence(server: tuple[Path, ServerFactory],
                                              sequence: list[tuple[int, bytes]]) -> None:
    probe = run(server, put_then(sequence), 4096, True)
    for message in probe.messages():
        if message["type"] == "error" and message["id"] is not None:
            assert message["code"] in ("bad_request", "incomplete", "aborted",
                                       "checksum_mismatch", "quota_exceeded"), message
