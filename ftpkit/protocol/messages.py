"""
Control messages: frozen attrs values, and their JSON encoding.

test-case-name: tests.unit.test_messages

Decoding is strict: UTF-8 only, a JSON object at the top, every field of the
right type. Unknown fields are ignored so that later versions may add fields.

Public API: none (internal; the messages are specified in docs/protocol.md).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from attrs import field, frozen

PROTOCOL_VERSION = 1
MAX_REQUEST_ID = 2**53 - 1  # exactly representable in every JSON implementation

JSONDict = dict[str, Any]


class MessageError(ValueError):
    """A control frame that is not a valid message."""


@frozen
class ArgInfo:
    """How one argument of a command is declared, as announced in the hello."""

    name: str
    type: str  # "str", "int", "bool" or "any"
    required: bool
    help: str = ""


@frozen
class CommandInfo:
    name: str
    description: str
    requires_login: bool
    args: tuple[ArgInfo, ...] = ()


@frozen
class Hello:
    """The server's first message on every connection."""

    protocol: int
    server: str
    commands: tuple[CommandInfo, ...]


@frozen
class Request:
    id: int
    command: str
    args: JSONDict = field(factory=dict)


@frozen
class Success:
    id: int
    result: JSONDict = field(factory=dict)


@frozen
class ErrorReply:
    """An error answering request C{id}, or the connection itself when C{id} is None."""

    id: int | None
    code: str
    message: str


@frozen
class Continue:
    """
    An interim answer to transfer request C{id}: the transfer may go ahead, on these
    terms. Exactly one final ok or error for C{id} follows, after any data frames.
    """

    id: int
    result: JSONDict = field(factory=dict)


@frozen
class End:
    """
    The client's end of the data of upload C{id}: the whole file's checksum, or
    C{abort} to stop (the staged data is kept for a resume).
    """

    id: int
    checksum: str | None = None
    abort: bool = False


Message = Hello | Request | Success | ErrorReply | Continue | End


def encode_message(message: Message) -> bytes:
    return json.dumps(_to_wire(message), separators=(",", ":"), ensure_ascii=False).encode()


def _to_wire(message: Message) -> JSONDict:
    match message:
        case Hello(protocol, server, commands):
            return {
                "type": "hello",
                "protocol": protocol,
                "server": server,
                "commands": [
                    {
                        "name": c.name,
                        "description": c.description,
                        "requires_login": c.requires_login,
                        "args": [
                            {"name": a.name, "type": a.type, "required": a.required, "help": a.help}
                            for a in c.args
                        ],
                    }
                    for c in commands
                ],
            }
        case Request(id, command, args):
            return {"type": "request", "id": id, "command": command, "args": args}
        case Success(id, result):
            return {"type": "ok", "id": id, "result": result}
        case ErrorReply(id, code, text):
            return {"type": "error", "id": id, "code": code, "message": text}
        case Continue(id, result):
            return {"type": "continue", "id": id, "result": result}
        case End(id, checksum, abort):
            return ({"type": "end", "id": id, "abort": True} if abort
                    else {"type": "end", "id": id, "checksum": checksum})
    raise TypeError(f"not a message: {message!r}")


def _reject_constant(name: str) -> None:
    raise MessageError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: Infinity by another name
        raise MessageError(f"{text} is out of range")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_surrogates(obj: Any) -> None:
    """Refuse lone surrogates (from escapes like \\ud800): not text, and not encodable."""
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise MessageError("control frame holds a lone surrogate escape")


def decode_message(body: bytes) -> Message:
    """Parse one control frame body, or raise L{MessageError} saying why not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MessageError(f"control frame is not UTF-8: {e.reason} at byte {e.start}") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as e:
        if isinstance(e, MessageError):
            raise
        raise MessageError(f"control frame is not JSON: {e}") from None
    if "\\u" in text:  # only an escape can make a surrogate
        _reject_surrogates(obj)
    if not isinstance(obj, dict):
        raise MessageError("a control message must be a JSON object")
    kind = obj.get("type")
    decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decoder is None:
        raise MessageError(f"unknown message type {kind!r}")
    return decoder(obj)


def _get(obj: JSONDict, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if key not in obj:
        raise MessageError(f"{what} has no {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise MessageError(f"{what}: {key!r} has the wrong type")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _request_id(obj: JSONDict, what: str, nullable: bool = False) -> int | None:
    if nullable and obj.get("id") is None:
        return None
    value = _get(obj, "id", int, what)
    if not 0 <= value <= MAX_REQUEST_ID:
        raise MessageError(f"{what}: 'id' must be an integer from 0 to 2**53-1")
    return int(value)


def _decode_request(obj: JSONDict) -> Request:
    rid = _request_id(obj, "request")
    assert rid is not None
    command = _get(obj, "command", str, "request")
    args = obj.get("args", {})
    if not isinstance(args, dict):
        raise MessageError("request: 'args' must be an object")
    return Request(rid, command, args)


def _decode_success(obj: JSONDict) -> Success:
    rid = _request_id(obj, "response")
    assert rid is not None
    result = obj.get("result", {})
    if not isinstance(result, dict):
        raise MessageError("response: 'result' must be an object")
    return Success(rid, result)


def _decode_error(obj: JSONDict) -> ErrorReply:
    return ErrorReply(
        _request_id(obj, "error", nullable=True),
        _get(obj, "code", str, "error"),
        _get(obj, "message", str, "error"),
    )


def _decode_hello(obj: JSONDict) -> Hello:
    commands = []
    for c in _get(obj, "commands", list, "hello"):
        if not isinstance(c, dict):
            raise MessageError("hello: each command must be an object")
        if not isinstance(c.get("args", []), list):
            raise MessageError("hello: a command's 'args' must be a list")
        args = tuple(
            ArgInfo(
                _get(a, "name", str, "argument"),
                _get(a, "type", str, "argument"),
                _get(a, "required", bool, "argument"),
                a.get("help", "") if isinstance(a.get("help", ""), str) else "",
            )
            for a in c.get("args", [])
            if isinstance(a, dict)
        )
        commands.append(
            CommandInfo(
                _get(c, "name", str, "command"),
                _get(c, "description", str, "command"),
                bool(c.get("requires_login", True)),
                args,
            )
        )
    return Hello(_get(obj, "protocol", int, "hello"), _get(obj, "server", str, "hello"),
                 tuple(commands))


def _decode_continue(obj: JSONDict) -> Continue:
    success = _decode_success(obj)
    return Continue(success.id, success.result)


def _decode_end(obj: JSONDict) -> End:
    rid = _request_id(obj, "end")
    assert rid is not None
    abort = obj.get("abort", False)
    if not isinstance(abort, bool):
        raise MessageError("end: 'abort' must be true or false")
    checksum = obj.get("checksum")
    if abort:
        return End(rid, None, True)
    if not isinstance(checksum, str):
        raise MessageError("end: 'checksum' must be a string unless 'abort' is true")
    return End(rid, checksum, False)


_DECODERS: dict[str, Callable[[JSONDict], Message]] = {
    "hello": _decode_hello,
    "request": _decode_request,
    "ok": _decode_success,
    "error": _decode_error,
    "continue": _decode_continue,
    "end": _decode_end,
}
