"""A real twistd -n ftpkit, driven by the real ftpkit and ftpkit-admin commands."""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest

from ftpkit.protocol.framing import FrameKind, encode_frame
from tests.integration.conftest import Server, admin

pytestmark = pytest.mark.integration


def read_frames(sock: socket.socket) -> list[bytes]:
    """Every frame the server sends until it closes the connection."""
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    frames = []
    while data:
        (length,) = struct.unpack(">I", data[:4])
        frames.append(data[4:4 + length])
        data = data[4 + length:]
    return frames


def test_commands_listed_after_login(server: Server) -> None:
    result = server.cli("commands")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(names)
    assert {"commands", "login", "logout", "quit", "ls", "cd", "quota"} <= set(names)
    assert "Log in with a user name and password" in result.stdout
    assert "login ok user=alice" in server.log


def test_generic_call_prints_json(server: Server) -> None:
    result = server.cli("call", "commands")
    assert result.returncode == 0, result.stderr
    names = [c["name"] for c in json.loads(result.stdout)["commands"]]
    assert "login" in names


def test_wrong_password_fails_after_delay(server: Server) -> None:
    started = time.monotonic()
    result = server.cli("whoami", password="wrong")
    assert time.monotonic() - started >= 1.0
    assert result.returncode == 4
    assert result.stderr == "ftpkit: auth_failed: wrong user name or password\n"
    assert "wrong" not in server.log.replace("wrong user name", "")  # no password in logs


def test_unknown_user_fails_the_same_way(server: Server) -> None:
    result = server.cli("whoami", user="nobody", password="whatever")
    assert result.returncode == 4
    assert result.stderr == "ftpkit: auth_failed: wrong user name or password\n"


def test_server_error_and_connection_error_exit_codes(server: Server) -> None:
    result = server.cli("call", "frobnicate")
    assert (result.returncode, result.stderr) == (
        1, "ftpkit: unknown_command: no command 'frobnicate'\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    refused = server.cli("--port", str(free_port), "whoami")
    assert refused.returncode == 3
    assert "connection_failed" in refused.stderr


def test_usage_error_exit_code(server: Server) -> None:
    result = server.cli("no-such-subcommand")
    assert result.returncode == 2


def test_admin_changes_apply_without_restart(server: Server) -> None:
    assert admin(server.users, "add", "bob", password="bob-pw").returncode == 0
    assert server.cli("whoami", user="bob", password="bob-pw").stdout == "bob\n"
    assert admin(server.users, "passwd", "bob", password="new-pw").returncode == 0
    assert server.cli("whoami", user="bob", password="bob-pw").returncode == 4
    assert server.cli("whoami", user="bob", password="new-pw").returncode == 0
    assert admin(server.users, "disable", "bob").returncode == 0
    assert server.cli("whoami", user="bob", password="new-pw").returncode == 4
    assert (server.root / "bob").is_dir()


@pytest.mark.parametrize("garbage, code", [
    (b"\x00\x00\x00\x05Xjunk", "bad_frame"),
    (struct.pack(">I", 0x7FFFFFFF) + b"x" * 100, "frame_too_large"),
    (encode_frame(FrameKind.CONTROL, b"{not json"), "bad_frame"),
])
def test_garbage_gets_error_and_close_while_others_are_served(
        server: Server, garbage: bytes, code: str) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as bad:
        bad.sendall(garbage)
        hello, *rest = read_frames(bad)
    assert hello[0] == FrameKind.CONTROL and json.loads(hello[1:])["type"] == "hello"
    assert [json.loads(f[1:])["code"] for f in rest] == [code]
    assert server.cli("whoami").stdout == "alice\n"
