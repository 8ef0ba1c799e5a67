"""
Declared command arguments, and validation of a request's arguments against them.

test-case-name: tests.unit.test_args

Public API: L{Arg}.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen

from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.protocol.messages import ArgInfo

_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "any": (object,),
}
_TYPE_WORDS = {"str": "a string", "int": "an integer", "bool": "true or false", "any": "a value"}


@frozen
class Arg:
    """
    One argument a command accepts.

    @ivar type: "str", "int", "bool" or "any" (any JSON value).
    @ivar check: optional; called with the value, returns an error message or None.
    """

    name: str
    type: str = "str"
    required: bool = True
    default: Any = None
    help: str = ""
    check: Callable[[Any], str | None] | None = None

    def __attrs_post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"argument {self.name!r}: unknown type {self.type!r}")

    def info(self) -> ArgInfo:
        return ArgInfo(self.name, self.type, self.required, self.help)


def validate_args(declared: tuple[Arg, ...], given: Mapping[str, Any]) -> dict[str, Any]:
    """
    Check C{given} against C{declared} and fill in defaults, or raise
    CommandError(bad_request) naming the first offending argument.
    """
    by_name = {a.name: a for a in declared}
    for name in given:
        if name not in by_name:
            raise CommandError(ErrorCode.BAD_REQUEST, f"unknown argument {name!r}")
    result: dict[str, Any] = {}
    for arg in declared:
        if arg.name not in given:
            if arg.required:
                raise CommandError(ErrorCode.BAD_REQUEST, f"missing argument {arg.name!r}")
            result[arg.name] = arg.default
            continue
        value = given[arg.name]
        if not _has_type(value, arg.type):
            raise CommandError(
                ErrorCode.BAD_REQUEST,
                f"argument {arg.name!r} must be {_TYPE_WORDS[arg.type]}",
            )
        if arg.check is not None:
            problem = arg.check(value)
            if problem:
                raise CommandError(ErrorCode.BAD_REQUEST, f"argument {arg.name!r}: {problem}")
        result[arg.name] = value
    return result


def _has_type(value: Any, type_name: str) -> bool:
    if type_name == "int" and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[type_name])
