"""put and get over an in-memory session: the exchange, verification, quota, resume."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import blake3
import pytest
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from ftpkit.protocol.framing import FrameKind
from ftpkit.server.policy import SessionPolicy
from tests.serverkit import Wire, make_users


def sha(data: bytes) -> str:
    """The default algorithm's digest."""
    return blake3.blake3(data).hexdigest()


def home(tmp_path: Path) -> Path:
    return tmp_path / "homes" / "alice"


def staged(tmp_path: Path) -> list[str]:
    staging = home(tmp_path) / ".ftpkit" / "staging"
    return sorted(p.name for p in staging.rglob("*") if p.is_file()) if staging.exists() else []


@pytest.fixture
def wire(tmp_path: Path) -> Wire:
    w = Wire(tmp_path)
    w.messages()
    w.login()
    return w


def start_put(wire: Wire, path: str, size: int, **extra: Any) -> tuple[int, dict[str, Any]]:
    rid = wire.request("put", path=path, size=size, **extra)
    (reply,) = wire.messages()
    assert reply["type"] == "continue", reply
    assert reply["id"] == rid
    return rid, reply["result"]


def put(wire: Wire, path: str, data: bytes, chunk: int = 7) -> dict[str, Any]:
    rid, info = start_put(wire, path, len(data))
    for i in range(info["offset"], len(data), chunk):
        wire.send_data(data[i:i + chunk])
    wire.send_end(rid, sha(data))
    (reply,) = wire.messages()
    return reply


def test_put_stores_the_file_atomically_and_verified(wire: Wire, tmp_path: Path) -> None:
    data = os.urandom(1000)
    rid, info = start_put(wire, "/f.bin", len(data))
    assert info == {"path": "/f.bin", "offset": 0, "prefix_checksum": None,
                    "algorithm": "blake3", "max_data_frame": 1024 * 1024 - 1}
    wire.send_data(data[:600])
    assert not (home(tmp_path) / "f.bin").exists()  # nothing visible before the commit
    wire.send_data(data[600:])
    wire.send_end(rid, sha(data))
    (reply,) = wire.messages()
    assert reply == {"type": "ok", "id": rid, "result": {
        "path": "/f.bin", "size": 1000, "checksum": sha(data), "algorithm": "blake3",
        "resumed_from": 0}}
    assert (home(tmp_path) / "f.bin").read_bytes() == data
    assert staged(tmp_path) == []
    assert wire.ok("quota") == {"used": 1000, "limit": None, "free": None, "files": 1}
    assert [e["name"] for e in wire.ok("ls")["entries"]] == ["f.bin"]  # .ftpkit is hidden


def test_empty_file(wire: Wire, tmp_path: Path) -> None:
    assert put(wire, "/empty", b"")["result"]["checksum"] == sha(b"")
    assert (home(tmp_path) / "empty").read_bytes() == b""


def test_put_into_a_directory_uses_the_name(wire: Wire, tmp_path: Path) -> None:
    wire.ok("mkdir", path="d")
    rid, info = start_put(wire, "d", 3, name="x.txt")
    assert info["path"] == "/d/x.txt"
    wire.send_data(b"abc")
    wire.send_end(rid, sha(b"abc"))
    assert wire.messages()[0]["type"] == "ok"
    assert wire.error("put", path="d", size=1) == "is_a_directory"
    wire.ok("mkdir", path="d/sub")
    assert wire.error("put", path="d", size=1, name="sub") == "is_a_directory"
    assert staged(tmp_path) == []
    rid, info = start_put(wire, "/", 1, name="top.txt")
    assert info["path"] == "/top.txt"
    wire.send_data(b"t")
    wire.send_end(rid, sha(b"t"))
    assert wire.messages()[0]["type"] == "ok"
    assert (home(tmp_path) / "top.txt").read_bytes() == b"t"


def test_checksum_mismatch_commits_nothing(wire: Wire, tmp_path: Path) -> None:
    (home(tmp_path) / "f").write_bytes(b"old")
    rid, _ = start_put(wire, "/f", 3)
    wire.send_data(b"new")
    wire.send_end(rid, sha(b"other"))
    (reply,) = wire.messages()
    assert reply["code"] == "checksum_mismatch"
    assert (home(tmp_path) / "f").read_bytes() == b"old"
    assert staged(tmp_path) == []
    assert wire.ok("quota")["used"] == 0  # usage restored (scanned before "old" existed)


def test_incomplete_upload_is_kept_and_resumes(wire: Wire, tmp_path: Path) -> None:
    data = os.urandom(100)
    rid, _ = start_put(wire, "/f", 100)
    wire.send_data(data[:40])
    wire.send_end(rid, sha(data))
    (reply,) = wire.messages()
    assert reply["code"] == "incomplete"
    assert len(staged(tmp_path)) == 2  # .part and .json
    assert wire.ok("quota")["used"] == 40  # staged data counts
    rid, info = start_put(wire, "/f", 100)
    assert info["offset"] == 40 and info["prefix_checksum"] == sha(data[:40])
    wire.send_data(data[40:])
    wire.send_end(rid, sha(data))
    (reply,) = wire.messages()
    assert reply["result"]["resumed_from"] == 40
    assert reply["result"]["checksum"] == sha(data)
    assert (home(tmp_path) / "f").read_bytes() == data
    assert wire.ok("quota") == {"used": 100, "limit": None, "free": None, "files": 1}


def test_abort_keeps_staged_data_and_restart_discards_it(wire: Wire, tmp_path: Path) -> None:
    rid, _ = start_put(wire, "/f", 10)
    wire.send_data(b"12345")
    wire.send_end(rid, abort=True)
    assert wire.messages()[0]["code"] == "aborted"
    rid, info = start_put(wire, "/f", 10, restart=True)
    assert info["offset"] == 0
    wire.send_data(b"abcdefghij")
    wire.send_end(rid, sha(b"abcdefghij"))
    assert wire.messages()[0]["type"] == "ok"
    assert staged(tmp_path) == []
    assert wire.ok("quota")["used"] == 10


def test_a_different_size_starts_over(wire: Wire, tmp_path: Path) -> None:
    rid, _ = start_put(wire, "/f", 10)
    wire.send_data(b"12345")
    wire.send_end(rid, abort=True)
    wire.messages()
    _, info = start_put(wire, "/f", 11)
    assert info["offset"] == 0
    assert len(staged(tmp_path)) == 2  # the stale one is gone


def test_data_past_the_declared_size_is_refused_then_drained(wire: Wire, tmp_path: Path) -> None:
    rid, _ = start_put(wire, "/f", 4)
    wire.send_data(b"too much data")
    (reply,) = wire.messages()
    assert reply["code"] == "bad_request"
    wire.send_data(b"still coming")  # in flight before the client saw the error
    wire.send_end(rid, abort=True)
    assert wire.messages() == []
    assert not wire.transport.disconnecting
    assert wire.ok("pwd") == {"path": "/"}
    assert not (home(tmp_path) / "f").exists() and staged(tmp_path) == []


def with_quota(tmp_path: Path, quota: int) -> Wire:
    """alice, logged in, with a byte limit."""
    users = make_users(tmp_path, alice="alice-pw")
    users.set_quota("alice", quota)
    wire = Wire(tmp_path, users=users)
    wire.messages()
    wire.login()
    return wire


def test_quota_checked_before_data_moves(tmp_path: Path) -> None:
    wire = with_quota(tmp_path, 100)
    assert wire.error("put", path="/f", size=101) == "quota_exceeded"
    assert staged(tmp_path) == []


def test_a_lying_client_is_stopped_by_the_quota(tmp_path: Path) -> None:
    wire = with_quota(tmp_path, 100)
    rid, _ = start_put(wire, "/f", 10)
    wire.send_data(b"x" * 10)
    wire.send_data(b"x" * 200)
    assert wire.messages()[0]["code"] == "quota_exceeded"
    wire.send_end(rid, abort=True)
    assert wire.ok("quota") == {"used": 0, "limit": 100, "free": 100, "files": 0}
    assert staged(tmp_path) == [] and not (home(tmp_path) / "f").exists()


def test_overwrite_counts_only_the_difference(tmp_path: Path) -> None:
    users = make_users(tmp_path, alice="alice-pw")
    users.set_quota("alice", 150)
    (tmp_path / "homes" / "alice").mkdir(parents=True)
    (home(tmp_path) / "f").write_bytes(b"x" * 100)
    wire = Wire(tmp_path, users=users)
    wire.messages()
    wire.login()
    reply = put(wire, "/f", b"y" * 120)
    assert reply["type"] == "ok", reply
    assert wire.ok("quota") == {"used": 120, "limit": 150, "free": 30, "files": 1}


def test_concurrent_uploads_reserve_space(tmp_path: Path) -> None:
    first = with_quota(tmp_path, 100)
    start_put(first, "/a", 60)
    second = first.another(tmp_path)
    second.messages()
    second.login()
    assert second.error("put", path="/b", size=60) == "quota_exceeded"


def test_two_uploads_to_one_path_each_land_whole(wire: Wire, tmp_path: Path) -> None:
    other = wire.another(tmp_path)
    other.messages()
    other.login()
    rid_a, _ = start_put(wire, "/f", 4)
    rid_b, info_b = start_put(other, "/f", 4)
    assert info_b["offset"] == 0  # its own staging file
    wire.send_data(b"AA")
    other.send_data(b"BBBB")
    wire.send_data(b"AA")
    other.send_end(rid_b, sha(b"BBBB"))
    assert (home(tmp_path) / "f").read_bytes() == b"BBBB"
    wire.send_end(rid_a, sha(b"AAAA"))
    assert wire.messages()[0]["type"] == "ok"
    assert (home(tmp_path) / "f").read_bytes() == b"AAAA"
    assert wire.ok("quota") == {"used": 4, "limit": None, "free": None, "files": 1}


def test_a_request_during_an_upload_is_fatal(wire: Wire) -> None:
    start_put(wire, "/f", 10)
    wire.request("pwd")
    (reply,) = wire.messages()
    assert (reply["id"], reply["code"]) == (None, "bad_frame")
    assert wire.transport.disconnecting


def test_an_end_for_nothing_is_fatal(wire: Wire) -> None:
    wire.send_end(42, sha(b""))
    assert wire.messages()[0]["code"] == "bad_frame"


def test_lost_connection_keeps_the_staged_prefix(wire: Wire, tmp_path: Path) -> None:
    start_put(wire, "/f", 10)
    wire.send_data(b"12345")
    account = wire.session.avatar.quota  # type: ignore[union-attr]
    wire.session.connectionLost(None)
    assert account.reserved == 0 and account.uploads == set()
    assert len(staged(tmp_path)) == 2


def get(wire: Wire, path: str, **args: Any) -> tuple[dict[str, Any], bytes, dict[str, Any]]:
    rid = wire.request("get", path=path, **args)
    frames = wire.frames()
    interim = json.loads(frames[0][1])
    final = json.loads(frames[-1][1])
    assert interim["type"] == "continue" and interim["id"] == rid
    assert all(kind == FrameKind.DATA for kind, _ in frames[1:-1])
    return interim["result"], b"".join(body for _, body in frames[1:-1]), final


def test_get_streams_and_verifies(wire: Wire, tmp_path: Path) -> None:
    data = os.urandom(700 * 1024)  # several chunks
    (home(tmp_path) / "f").write_bytes(data)
    info, body, final = get(wire, "f")
    assert info["size"] == len(data) and info["offset"] == 0 and info["checksum"] is None
    assert body == data
    assert final["result"] == {"path": "/f", "size": len(data), "checksum": sha(data),
                               "algorithm": "blake3"}
    again, _, _ = get(wire, "f")
    assert again["checksum"] == sha(data)  # recorded the first time: not read twice


def test_sha256_on_request_both_ways_and_the_server_default_is_configurable(
        wire: Wire, tmp_path: Path) -> None:
    data = os.urandom(300 * 1024)
    rid, info = start_put(wire, "/s.bin", len(data), algorithm="sha256")
    assert info["algorithm"] == "sha256"
    wire.send_data(data)
    wire.send_end(rid, hashlib.sha256(data).hexdigest())
    (reply,) = wire.messages()
    assert reply["result"]["checksum"] == hashlib.sha256(data).hexdigest(), reply
    info, body, final = get(wire, "s.bin", algorithm="sha256")
    assert body == data and info["checksum"] == hashlib.sha256(data).hexdigest()
    assert wire.error("put", path="x", size=1, algorithm="md5") == "bad_request"

    configured = Wire(tmp_path / "other", policy=SessionPolicy(checksum="sha256"))
    configured.messages()
    configured.login()
    _, info = start_put(configured, "/t.bin", 3)
    assert info["algorithm"] == "sha256"


def test_get_resumes_only_an_unchanged_file(wire: Wire, tmp_path: Path) -> None:
    data = os.urandom(5000)
    (home(tmp_path) / "f").write_bytes(data)
    info, _, _ = get(wire, "f")
    resumed, body, final = get(wire, "f", offset=3000, version=info["version"])
    assert resumed["offset"] == 3000 and body == data[3000:]
    assert final["result"]["checksum"] == sha(data)
    (home(tmp_path) / "f").write_bytes(data[::-1])
    changed, body, final = get(wire, "f", offset=3000, version=info["version"])
    assert changed["offset"] == 0 and body == data[::-1]
    assert final["result"]["checksum"] == sha(data[::-1])


def test_get_refuses_what_is_not_a_file(wire: Wire, tmp_path: Path) -> None:
    os.symlink("/etc/passwd", home(tmp_path) / "link")
    assert wire.error("get", path="link") == "outside_home"
    assert wire.error("get", path="/") == "is_a_directory"
    assert wire.error("get", path="nope") == "not_found"
    assert wire.error("get", path="/.ftpkit/staging") == "bad_path"


def test_offsets_past_4_gib(wire: Wire, tmp_path: Path) -> None:
    big = 5 * 1024**3 + 123
    with open(home(tmp_path) / "sparse", "wb") as f:
        f.truncate(big - 3)
        f.seek(big - 3)
        f.write(b"end")
    st = os.stat(home(tmp_path) / "sparse")
    version = f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"
    digest = "ab" * 32
    from ftpkit.storage import checksums

    (home(tmp_path) / ".ftpkit" / "sums").mkdir(parents=True, exist_ok=True)
    sums = os.open(home(tmp_path) / ".ftpkit" / "sums", os.O_RDONLY)
    checksums.write_record(sums, st, "blake3", digest)  # known: no 5 GiB hash in a unit test
    os.close(sums)
    info, body, final = get(wire, "sparse", offset=big - 10, version=version)
    assert info["offset"] == big - 10 and body == b"\0" * 7 + b"end"
    assert final["result"] == {"path": "/sparse", "size": big, "checksum": digest,
                               "algorithm": "blake3"}


def test_user_rate_limit_paces_uploads(tmp_path: Path) -> None:
    wire = Wire(tmp_path, policy=SessionPolicy(user_rate=1000))
    wire.messages()
    wire.login()
    rid, _ = start_put(wire, "/f", 600 * 1024)
    wire.send_data(b"x" * 300 * 1024)  # over the burst: reading stops
    assert wire.transport.producerState == "paused"
    wire.clock.advance(46)  # 44 KiB over the burst, at 1000 bytes a second
    assert wire.transport.producerState == "producing"


def test_concurrent_uploads_share_the_transfer_memory(tmp_path: Path) -> None:
    from ftpkit.server.channel import MIN_SHARE, Channel
    from ftpkit.server.limits import Limits
    from tests.serverkit import make_factory

    many_transfers = Limits(max_transfers_per_user=100)
    factory = make_factory(tmp_path, policy=SessionPolicy(transfer_memory=8 * 1024 * 1024),
                           limits=many_transfers)
    wires = [Wire(tmp_path, factory=factory) for _ in range(4)]
    for w in wires:
        w.messages()
        w.login()
    shares, rids = [], []
    for i, w in enumerate(wires):
        shares.append(Channel(w.session, 99).buffer_share())
        rids.append(start_put(w, f"/f{i}.bin", 10)[0])  # now receiving: counts for the next
    assert shares == [4 * 1024 * 1024, 4 * 1024 * 1024, 8 * 1024 * 1024 // 3, 2 * 1024 * 1024]
    many = make_factory(tmp_path / "many", policy=SessionPolicy(transfer_memory=1024 * 1024),
                        limits=many_transfers)
    crowd = [Wire(tmp_path / "many", factory=many) for _ in range(8)]
    for i, w in enumerate(crowd):
        w.messages()
        w.login()
        start_put(w, f"/g{i}.bin", 10)
    assert Channel(crowd[0].session, 99).buffer_share() == MIN_SHARE  # never below the floor
    # an upload that ends, or whose client goes away, no longer counts
    wires[0].send_data(b"x" * 10)
    wires[0].send_end(rids[0], sha(b"x" * 10))
    wires[1].session.connectionLost(Failure(ConnectionDone()))
    assert factory.receiving == {wires[2].session, wires[3].session}
    assert Channel(wires[0].session, 99).buffer_share() == 8 * 1024 * 1024 // 3
