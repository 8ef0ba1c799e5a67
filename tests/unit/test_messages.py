"""Control messages: JSON round trips, strict decoding, and CommandError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.protocol.messages import (
    MAX_REQUEST_ID,
    ArgInfo,
    CommandInfo,
    ErrorReply,
    Hello,
    Message,
    MessageError,
    Request,
    Success,
    decode_message,
    encode_message,
)


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def request(**fields: Any) -> dict[str, Any]:
    return {"type": "request", "id": 1, "command": "ls", "args": {}, **fields}


def assert_refused(data: bytes, *words: str) -> None:
    with pytest.raises(MessageError) as caught:
        decode_message(data)
    for word in words:
        assert word in str(caught.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
request_ids = st.integers(min_value=0, max_value=MAX_REQUEST_ID)


# -- round trips -------------------------------------------------------------

HELLO = Hello(1, "ftpkit 0.1.0", (
    CommandInfo("login", "Log in.", False, (
        ArgInfo("user", "str", True, "the user name"),
        ArgInfo("password", "str", True),
    )),
    CommandInfo("ls", "List a directory; ünïcode too.", True, (ArgInfo("path", "any", False),)),
    CommandInfo("quit", "", False),
))


@pytest.mark.parametrize("message", [
    HELLO,
    Request(0, "ls"),
    Request(MAX_REQUEST_ID, "put", {"path": "a/ü.txt", "size": 3, "over": True, "x": None}),
    Success(7),
    Success(7, {"entries": [{"name": "a", "size": 1}], "more": False}),
    ErrorReply(3, ErrorCode.NOT_FOUND, "no such file 'x'"),
    ErrorReply(None, "bad_frame", "unknown frame kind 0x58"),
], ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    assert decode_message(encode_message(message)) == message


@given(request_ids, st.text(), st.dictionaries(st.text(), json_values, max_size=6))
def test_request_round_trip(rid: int, command: str, args: dict[str, Any]) -> None:
    assert decode_message(encode_message(Request(rid, command, args))) == Request(
        rid, command, args)


@given(request_ids, st.dictionaries(st.text(), json_values, max_size=6))
def test_success_round_trip(rid: int, result: dict[str, Any]) -> None:
    assert decode_message(encode_message(Success(rid, result))) == Success(rid, result)


def test_encoding_is_compact_utf8() -> None:
    data = encode_message(Request(1, "ls", {"path": "é"}))
    assert data == '{"type":"request","id":1,"command":"ls","args":{"path":"é"}}'.encode()


def test_encoding_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        encode_message({"type": "request"})  # type: ignore[arg-type]


def test_missing_args_and_result_default_to_empty() -> None:
    assert decode_message(body({"type": "request", "id": 1, "command": "ls"})) == Request(1, "ls")
    assert decode_message(body({"type": "ok", "id": 1})) == Success(1)


def test_unknown_fields_are_ignored() -> None:
    assert decode_message(body(request(extra=[1, 2]))) == Request(1, "ls")


def test_error_reply_with_null_id_is_about_the_connection() -> None:
    data = body({"type": "error", "id": None, "code": "bad_frame", "message": "m"})
    assert decode_message(data) == ErrorReply(None, "bad_frame", "m")


# -- strict decoding ---------------------------------------------------------


@pytest.mark.parametrize("data", [
    b"\xff\xfe",
    b'{"type":"request","id":1,"command":"\xc3"}',
    '{"type":"ok","id":1}'.encode("utf-16"),
    '{"type":"ok","id":1}'.encode("utf-16-le"),
    '\ufeff{"type":"ok","id":1}'.encode(),
    b"",
    b"{",
    b'{"type":"ok","id":1,}',
    b"{'type':'ok'}",
    b'{"type":"ok","id":1} trailing',
], ids=repr)
def test_not_utf8_json_is_refused(data: bytes) -> None:
    assert_refused(data)


def test_non_utf8_reports_the_byte() -> None:
    assert_refused(b'{"a":"\xff"}', "not UTF-8", "byte 6")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_numbers_are_refused(constant: str) -> None:
    assert_refused(f'{{"type":"request","id":1,"command":"x","args":{{"n":{constant}}}}}'
                   .encode())


@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "\\ud83d x", "x\\ude00"])
def test_lone_surrogates_are_refused(escape: str) -> None:
    assert_refused(f'{{"type":"request","id":1,"command":"x","args":{{"p":"{escape}"}}}}'
                   .encode())


def test_surrogate_pairs_are_characters() -> None:
    data = b'{"type":"request","id":1,"command":"x","args":{"p":"\\ud83d\\ude00"}}'
    assert decode_message(data) == Request(1, "x", {"p": "\U0001f600"})


@given(st.recursive(st.text(alphabet=st.characters(codec=None)),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(alphabet=st.characters(codec=None)), inner,
                                      max_size=3),
                    max_leaves=10))
def test_what_decodes_encodes_again(value: Any) -> None:
    data = json.dumps({"type": "request", "id": 1, "command": "x", "args": {"v": value}})
    try:
        message = decode_message(data.encode())
    except MessageError:
        return
    assert decode_message(encode_message(message)) == message


@pytest.mark.parametrize("top", [[], [1, 2], "request", 1, None, True])
def test_top_level_must_be_an_object(top: Any) -> None:
    assert_refused(body(top), "JSON object")


@pytest.mark.parametrize("kind", ["bogus", "", "Request", 1, None, ["request"]])
def test_unknown_type_is_refused(kind: Any) -> None:
    assert_refused(body(request(type=kind)), "unknown message type")


def test_missing_type_is_refused() -> None:
    assert_refused(body({"id": 1, "command": "ls"}), "unknown message type")


def test_request_without_id_is_refused() -> None:
    obj = request()
    del obj["id"]
    assert_refused(body(obj), "'id'")


@pytest.mark.parametrize("rid", [-1, MAX_REQUEST_ID + 1, 2**64, True, False, 1.0, 1.5, "1", None,
                                 [1]])
@pytest.mark.parametrize("kind", ["request", "ok"])
def test_bad_ids_are_refused(kind: str, rid: Any) -> None:
    assert_refused(body(request(type=kind, id=rid)), "'id'")


@pytest.mark.parametrize("rid", [-1, MAX_REQUEST_ID + 1, True, 1.0, "1"])
def test_bad_error_ids_are_refused(rid: Any) -> None:
    assert_refused(body({"type": "error", "id": rid, "code": "x", "message": "m"}), "'id'")


@pytest.mark.parametrize("command", [None, 1, True, [], {}])
def test_command_must_be_a_string(command: Any) -> None:
    assert_refused(body(request(command=command)), "'command'")


def test_command_is_required() -> None:
    obj = request()
    del obj["command"]
    assert_refused(body(obj), "'command'")


@pytest.mark.parametrize("args", [None, [], "a=1", 1, True])
def test_args_must_be_an_object(args: Any) -> None:
    assert_refused(body(request(args=args)), "'args'")


@pytest.mark.parametrize("result", [None, [], "x", 0])
def test_result_must_be_an_object(result: Any) -> None:
    assert_refused(body({"type": "ok", "id": 1, "result": result}), "'result'")


@pytest.mark.parametrize("fields", [
    {"code": 1, "message": "m"}, {"code": "x", "message": None}, {"message": "m"}, {"code": "x"},
])
def test_error_needs_string_code_and_message(fields: dict[str, Any]) -> None:
    assert_refused(body({"type": "error", "id": 1, **fields}))


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"a":' * 100_000, b"[{}," * 50_000])
def test_deep_nesting_is_a_message_error(data: bytes) -> None:
    assert_refused(data)


def test_huge_integer_is_a_message_error() -> None:
    assert_refused(b'{"type":"request","id":' + b"9" * 5000 + b',"command":"x"}')


def hello(**command: Any) -> bytes:
    entry = {"name": "ls", "description": "d", **command}
    return body({"type": "hello", "protocol": 1, "server": "s", "commands": [entry]})


@pytest.mark.parametrize("data", [
    body({"type": "hello", "protocol": 1, "server": "s"}),
    body({"type": "hello", "protocol": True, "server": "s", "commands": []}),
    body({"type": "hello", "protocol": "1", "server": "s", "commands": []}),
    body({"type": "hello", "protocol": 1, "server": None, "commands": []}),
    body({"type": "hello", "protocol": 1, "server": "s", "commands": {}}),
    body({"type": "hello", "protocol": 1, "server": "s", "commands": ["ls"]}),
    hello(name=1),
    hello(args=5),
    hello(args="abc"),
    hello(args={"name": "x"}),
    hello(args=[{"type": "str", "required": True}]),
    hello(args=[{"name": "x", "type": "str", "required": "yes"}]),
], ids=lambda d: d.decode())
def test_malformed_hello_is_refused(data: bytes) -> None:
    assert_refused(data)


# -- errors ------------------------------------------------------------------


def test_command_error_carries_code_and_message() -> None:
    error = CommandError(ErrorCode.QUOTA_EXCEEDED, "10 bytes over")
    assert error.code == "quota_exceeded" and type(error.code) is str
    assert error.message == "10 bytes over"
    assert str(error) == "quota_exceeded: 10 bytes over"


def test_command_error_accepts_a_plugin_code() -> None:
    error = CommandError("disk_on_fire", "sorry")
    assert (error.code, error.message) == ("disk_on_fire", "sorry")


def test_error_codes_are_stable_strings() -> None:
    assert {c.value for c in ErrorCode} >= {
        "bad_frame", "frame_too_large", "bad_request", "unknown_command", "auth_required",
        "auth_failed", "already_authenticated", "not_found", "outside_home", "quota_exceeded",
        "internal_error"}
    assert ErrorCode.NOT_FOUND == "not_found"
