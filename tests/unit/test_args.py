"""Declared command arguments and validate_args."""

from __future__ import annotations

from typing import Any

import pytest

from ftpkit.commands.args import Arg, validate_args
from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.protocol.messages import ArgInfo


def refused(declared: tuple[Arg, ...], given: dict[str, Any]) -> str:
    """The message of the bad_request error validate_args raises."""
    with pytest.raises(CommandError) as caught:
        validate_args(declared, given)
    assert caught.value.code == ErrorCode.BAD_REQUEST
    return caught.value.message


def test_valid_arguments_are_returned() -> None:
    declared = (Arg("path"), Arg("size", "int"), Arg("force", "bool"), Arg("meta", "any"))
    given = {"path": "a", "size": 0, "force": False, "meta": [1, {"x": None}]}
    assert validate_args(declared, given) == given


def test_result_is_a_new_dict() -> None:
    given = {"path": "a"}
    result = validate_args((Arg("path"),), given)
    result["path"] = "b"
    assert given == {"path": "a"}


def test_optional_arguments_get_their_defaults() -> None:
    declared = (Arg("path", required=False, default="."), Arg("all", "bool", required=False))
    assert validate_args(declared, {}) == {"path": ".", "all": None}
    assert validate_args(declared, {"all": True}) == {"path": ".", "all": True}


def test_no_arguments() -> None:
    assert validate_args((), {}) == {}


def test_unknown_argument_is_named() -> None:
    assert refused((Arg("path"),), {"path": "a", "bogus": 1}) == "unknown argument 'bogus'"


def test_unknown_argument_is_reported_before_a_missing_one() -> None:
    assert refused((Arg("path"),), {"pth": "a"}) == "unknown argument 'pth'"


def test_missing_required_argument_is_named() -> None:
    assert refused((Arg("src"), Arg("dst")), {"src": "a"}) == "missing argument 'dst'"


def test_required_argument_may_not_be_null() -> None:
    assert refused((Arg("path"),), {"path": None}) == "argument 'path' must be a string"


@pytest.mark.parametrize("value", [True, False])
def test_bool_is_not_an_int(value: bool) -> None:
    assert refused((Arg("n", "int"),), {"n": value}) == "argument 'n' must be an integer"


@pytest.mark.parametrize(("type_", "value", "words"), [
    ("str", 1, "a string"),
    ("str", b"a", "a string"),
    ("str", ["a"], "a string"),
    ("int", 1.0, "an integer"),
    ("int", "1", "an integer"),
    ("bool", 1, "true or false"),
    ("bool", "true", "true or false"),
])
def test_wrong_type_says_what_was_wanted(type_: str, value: Any, words: str) -> None:
    assert refused((Arg("x", type_),), {"x": value}) == f"argument 'x' must be {words}"


def test_wrong_type_of_optional_argument() -> None:
    assert refused((Arg("n", "int", required=False),), {"n": "3"}) == (
        "argument 'n' must be an integer")


@pytest.mark.parametrize("value", [None, 0, "", [], {}, 1.5, True])
def test_any_accepts_every_json_value(value: Any) -> None:
    assert validate_args((Arg("v", "any"),), {"v": value}) == {"v": value}


def test_check_hook_message_is_reported() -> None:
    def positive(n: int) -> str | None:
        return None if n > 0 else "must be positive"

    declared = (Arg("n", "int", check=positive),)
    assert validate_args(declared, {"n": 3}) == {"n": 3}
    assert refused(declared, {"n": 0}) == "argument 'n': must be positive"


def test_check_hook_is_not_run_on_wrong_type_or_default() -> None:
    seen: list[Any] = []
    declared = (Arg("n", "int", required=False, default=-1, check=lambda v: seen.append(v)),)
    refused(declared, {"n": "x"})
    assert validate_args(declared, {}) == {"n": -1}
    assert seen == []


def test_check_hook_returning_empty_string_is_no_problem() -> None:
    assert validate_args((Arg("s", check=lambda v: ""),), {"s": "x"}) == {"s": "x"}


def test_unknown_type_is_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="argument 'n': unknown type 'integer'"):
        Arg("n", "integer")


def test_info() -> None:
    assert Arg("path", help="where").info() == ArgInfo("path", "str", True, "where")
    assert Arg("n", "int", required=False, default=3).info() == ArgInfo("n", "int", False, "")
