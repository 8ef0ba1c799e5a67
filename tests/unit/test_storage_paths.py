"""Virtual paths: resolving what a client typed, and refusing bad names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftpkit.protocol.errors import CommandError, ErrorCode
from ftpkit.storage import paths

components = st.sampled_from(["a", "b", "日本語", "x y", "🎉", ".", "..", "", "...", "a.b"])
typed = st.lists(components, max_size=12).map("/".join).filter(bool)
canonical = typed.map(lambda p: paths.resolve("/", p))


def bad_path(f: object, *args: str) -> CommandError:
    with pytest.raises(CommandError) as info:
        f(*args)  # type: ignore[operator]
    assert info.value.code == ErrorCode.BAD_PATH
    return info.value


def assert_canonical(vpath: str) -> None:
    assert vpath.startswith("/")
    assert "//" not in vpath
    assert vpath == "/" or not vpath.endswith("/")
    assert not {".", ".."} & set(vpath.split("/"))


@given(cwd=canonical, path=typed)
def test_resolve_is_canonical_and_idempotent(cwd: str, path: str) -> None:
    resolved = paths.resolve(cwd, path)
    assert_canonical(resolved)
    assert paths.resolve(cwd, resolved) == resolved
    assert paths.resolve("/elsewhere", resolved) == resolved
    assert paths.from_parts(paths.split(resolved)) == resolved


@given(cwd=canonical, path=st.text(max_size=40))
def test_any_text_is_canonical_or_bad_path(cwd: str, path: str) -> None:
    try:
        resolved = paths.resolve(cwd, path)
    except CommandError as e:
        assert e.code == ErrorCode.BAD_PATH
    else:
        assert_canonical(resolved)


@given(cwd=canonical, extra=st.integers(min_value=0, max_value=20))
def test_dotdot_chains_clamp_to_the_home(cwd: str, extra: int) -> None:
    ups = len(paths.split(cwd)) + extra
    assert paths.resolve(cwd, "../" * ups + "etc/passwd") == "/etc/passwd"
    assert paths.resolve(cwd, "/.." * (ups + 1)) == "/"


@pytest.mark.parametrize(("cwd", "path", "expected"), [
    ("/", ".", "/"),
    ("/", "..", "/"),
    ("/a/b", "..", "/a"),
    ("/a/b", "../../../../etc/passwd", "/etc/passwd"),
    ("/a/b", "/", "/"),
    ("/a/b", "/x", "/x"),
    ("/a", "//x///y/./", "/x/y"),
    ("/a", "x/../../..", "/"),
    ("/a", "./c", "/a/c"),
    ("/", "...", "/..."),
    ("/", "日本語.txt", "/日本語.txt"),
    ("/", "  spaces  /🎉", "/  spaces  /🎉"),
])
def test_resolve_examples(cwd: str, path: str, expected: str) -> None:
    assert paths.resolve(cwd, path) == expected


@pytest.mark.parametrize("path", [
    "",
    "a\x00b",
    "a\nb",
    "x/\r",
    "\t",
    "a\x7fb",
    "a\x85b",
    "a\x9f",
    "a\ud800b",
    "x/\udcff",
    "a" * 256,
    "é" * 128,  # 256 UTF-8 bytes
    "/".join(["a" * 200] * 21),  # over 4096 bytes in all
])
def test_bad_paths_are_refused(path: str) -> None:
    bad_path(paths.resolve, "/", path)


def test_longest_name_is_fine() -> None:
    assert paths.resolve("/", "a" * 255) == "/" + "a" * 255
    assert paths.resolve("/", "語" * 85) == "/" + "語" * 85  # 255 bytes
    bad_path(paths.resolve, "/", "語" * 86)


def test_a_resolved_path_may_not_grow_too_long() -> None:
    cwd = "/" + "/".join(["a" * 250] * 16)  # 4032 bytes
    bad_path(paths.resolve, cwd, "b" * 100)


@pytest.mark.parametrize("vpath", [
    "", "a", "a/b", "/a/", "//a", "/a//b", "/a/../b", "/./a", "/..", "/a\x00", "/\ud800",
])
def test_split_accepts_only_canonical_paths(vpath: str) -> None:
    bad_path(paths.split, vpath)


def test_split_and_helpers() -> None:
    assert paths.split("/") == ()
    assert paths.split("/a/日本") == ("a", "日本")
    assert paths.join("/", "a") == "/a"
    assert paths.join("/a", "b c") == "/a/b c"
    assert paths.parent("/a/b") == "/a"
    assert paths.parent("/a") == "/"
    assert paths.parent("/") == "/"
    assert paths.name("/a/b") == "b"
    assert paths.name("/") == ""


@pytest.mark.parametrize("component", ["", ".", "..", "a/b", "a\nb", "\udc80", "x" * 256])
def test_join_refuses_anything_but_one_name(component: str) -> None:
    assert not paths.is_valid_name(component)
    bad_path(paths.join, "/a", component)
