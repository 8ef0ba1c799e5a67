"""
Third-party commands, the whole way: the example distribution (examples/ftpkit-checksum)
installed beside ftpkit in a fresh venv, found by `twistd -n ftpkit` from that venv, and
called through `ftpkit call`, `ftpkit shell` and the Python client. Also what happens
with a plugin that fails, one that cannot be imported, a name clash, a missing enabled
command, and a read-only plugin directory.

The fresh venv is made as in test_install (no pip inside, this venv's dependencies
through a .pth line) and shared by the module; throwaway plugin modules are added to
its site-packages/ftpkit/plugins by each test and removed afterwards.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import Server, admin
from tests.integration.test_install import PROJECT, fresh_venv, pip_install

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = PROJECT / "examples" / "ftpkit-checksum"
CHECKSUM_MODULE = "ftpkit.plugins.ftpkit_checksum_commands"

BOOM = """
    from ftpkit.commands import Command


    class Boom(Command):
        name = "boom"
        description = "always fails"

        def run(self, context, args):
            raise RuntimeError("kaboom: an internal detail")


    boom = Boom()
"""
UNIMPORTABLE = "raise ImportError('zz_broken needs libmissing')\n"
ANOTHER_DU = """
    from ftpkit.commands import Command


    class OtherDu(Command):
        name = "du"
        description = "a different du"

        def run(self, context, args):
            return {"other": True}


    du = OtherDu()
"""
# Drives the Python client from the fresh venv: prints what it saw as JSON.
CLIENT = """
    import json, sys
    from twisted.internet import defer, task
    from ftpkit.client import Client, RemoteError

    async def main(reactor, port):
        client = await Client.connect(reactor, f"tcp:127.0.0.1:{port}")
        seen = {"hello": [c.name for c in client.hello.commands]}
        await client.login("alice", "alice-pw")
        seen["checksum"] = await client.call("checksum", path="f.bin")
        try:
            await client.call("boom")
        except RemoteError as e:
            seen["boom"] = [e.code, e.message]
        seen["after"] = await client.call("checksum", path="sub/g.txt", algorithm="md5")
        await client.quit()
        print(json.dumps(seen))

    task.react(lambda reactor: defer.Deferred.fromCoroutine(main(reactor, int(sys.argv[1]))))
"""


@dataclass
class Venv:
    python: Path
    bin: Path
    plugins: Path  # site-packages/ftpkit/plugins


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    where = tmp_path_factory.mktemp("plugins")
    python = fresh_venv(where / "venv")
    # Build from a copy, so the source tree gets no build/ or egg-info.
    example = shutil.copytree(EXAMPLE, where / "ftpkit-checksum", ignore=shutil.ignore_patterns(
        "__pycache__", "build", "*.egg-info", "dropin.cache", ".pytest_cache"))
    pip_install(python, str(PROJECT), str(example))
    bin = where / "venv" / "bin"
    twistd = bin / "twistd"  # as Twisted's own entry point would be, had pip installed it
    twistd.write_text(f"#!{python}\nimport sys\nfrom twisted.scripts.twistd import run\n"
                      "sys.exit(run())\n")
    twistd.chmod(0o755)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True)
    plugins = Path(purelib.stdout.strip()) / "ftpkit" / "plugins"
    assert (plugins / "ftpkit_checksum_commands.py").is_file()
    return Venv(python, bin, plugins)


@pytest.fixture
def add_plugin(venv: Venv) -> Iterator[Callable[[str, str], str]]:
    """Install a throwaway plugin module into the venv for one test."""
    added: list[Path] = []

    def add(module: str, source: str) -> str:
        path = venv.plugins / f"{module}.py"
        path.write_text(textwrap.dedent(source))
        added.append(path)
        return f"ftpkit.plugins.{module}"

    yield add
    for path in added:
        path.unlink()


def make_server(venv: Venv, workdir: Path, *extra: str,
                preexec_fn: Callable[[], None] | None = None) -> Server:
    server = Server(workdir, *extra, bin=venv.bin, preexec_fn=preexec_fn)
    assert admin(server.users, "add", "alice", "--quota", "10M",
                 password="alice-pw").returncode == 0
    home = server.root / "alice"
    (home / "sub").mkdir(parents=True)
    (home / "f.bin").write_bytes(bytes(range(256)) * 5000)
    (home / "sub" / "g.txt").write_bytes(b"hello\n")
    return server


def refused(venv: Venv, workdir: Path, config: str) -> str:
    """Start twistd with C{config}; it must refuse. Its output."""
    (workdir / "ftpkit.toml").write_text(config)
    result = subprocess.run(
        [str(venv.bin / "twistd"), "--pidfile=", "--logfile=-", "-n", "ftpkit",
         "--config", str(workdir / "ftpkit.toml"), "--listen", "tcp:0:interface=127.0.0.1",
         "--root", str(workdir / "homes"), "--users", str(workdir / "users.sqlite")],
        cwd=workdir, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "ftpkit ready" not in output and "UsageError" not in output, output  # no traceback
    return output


def ok(server: Server, *args: str, stdin: str | None = None) -> str:
    result = server.cli(*args, stdin=stdin)
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def command_names(listing: str) -> set[str]:
    return {line.split()[0] for line in listing.splitlines() if line.strip()}


def test_the_example_commands_work_through_every_client(
        venv: Venv, add_plugin: Callable[[str, str], str], tmp_path: Path) -> None:
    add_plugin("zz_boom_commands", BOOM)
    broken = add_plugin("zz_broken_commands", UNIMPORTABLE)
    server = make_server(venv, tmp_path).start()
    try:
        data = (server.root / "alice" / "f.bin").read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()

        listing = ok(server, "commands")
        assert {"checksum", "du", "boom", "ls"} <= command_names(listing)
        assert "Checksum a file" in listing

        called = json.loads(ok(server, "call", "checksum", "path=f.bin"))
        assert called == {"path": "/f.bin", "algorithm": "sha256", "checksum": sha256,
                          "size": len(data)}
        called = json.loads(ok(server, "call", "checksum", "path=sub/g.txt",
                               "algorithm=sha512"))
        assert called["checksum"] == hashlib.sha512(b"hello\n").hexdigest()
        assert json.loads(ok(server, "call", "du")) == {
            "path": "/", "bytes": len(data) + 6, "files": 2, "dirs": 1}
        assert json.loads(ok(server, "call", "du", 'path:="sub"'))["bytes"] == 6

        shell = ok(server, "shell", stdin="checksum path=f.bin\ncd sub\ndu\n")
        assert f'"checksum": "{sha256}"' in shell
        assert '"path": "/sub"' in shell and '"files": 1' in shell

        client = subprocess.run([str(venv.python), "-c", textwrap.dedent(CLIENT),
                                 str(server.port)], capture_output=True, text=True,
                                timeout=60, cwd=tmp_path)
        assert client.returncode == 0, client.stderr
        seen = json.loads(client.stdout)
        assert {"checksum", "du", "boom"} <= set(seen["hello"])
        assert seen["checksum"]["checksum"] == sha256
        code, message = seen["boom"]
        assert code == "internal_error" and "kaboom" not in message
        # The connection lived on after the failure.
        assert seen["after"]["checksum"] == hashlib.md5(b"hello\n").hexdigest()

        failed = server.cli("call", "boom")
        assert failed.returncode == 1
        assert failed.stderr.startswith("ftpkit: internal_error: ")
        assert "kaboom" not in failed.stderr and "Traceback" not in failed.stderr
        # Checked last: the log lines are the server's, after the calls above.
        log = server.log
        assert "RuntimeError: kaboom: an internal detail" in log  # the traceback, here only
        assert f"commands from {CHECKSUM_MODULE}: checksum, du" in log
        assert (f"plugin module {broken} failed to import, so its commands are not "
                "offered: ImportError: zz_broken needs libmissing") in log
        assert server.process is not None and server.process.poll() is None
    finally:
        server.stop()


def test_a_name_clash_refuses_to_start_unless_the_config_chooses(
        venv: Venv, add_plugin: Callable[[str, str], str], tmp_path: Path) -> None:
    other = add_plugin("zz_other_du_commands", ANOTHER_DU)
    output = refused(venv, tmp_path, "")
    assert "cannot start: two plugins provide a command named 'du': " in output
    assert CHECKSUM_MODULE in output and other in output

    (tmp_path / "chosen.toml").write_text(f'[commands]\noverride = {{du = "{other}"}}\n')
    server = make_server(venv, tmp_path / "srv", "--config", str(tmp_path / "chosen.toml"))
    server.start()
    try:
        assert json.loads(ok(server, "call", "du")) == {"other": True}
        assert "a different du" in ok(server, "commands")
    finally:
        server.stop()


def test_enabled_offers_only_those_and_refuses_to_start_without_one(
        venv: Venv, add_plugin: Callable[[str, str], str], tmp_path: Path) -> None:
    output = refused(venv, tmp_path, '[commands]\nenabled = ["checksum", "sha"]\n')
    assert "cannot start: commands.enabled names 'sha', which no installed plugin provides" \
        in output
    broken = add_plugin("zz_broken_commands", UNIMPORTABLE)
    output = refused(venv, tmp_path, '[commands]\nenabled = ["checksum", "sha"]\n')
    assert f"{broken} (ImportError: zz_broken needs libmissing)" in output

    (tmp_path / "only.toml").write_text('[commands]\nenabled = ["checksum", "du"]\n')
    server = make_server(venv, tmp_path / "srv", "--config", str(tmp_path / "only.toml"))
    server.start()
    try:
        assert command_names(ok(server, "commands")) == {
            "checksum", "du", "login", "logout", "quit", "commands"}
    finally:
        server.stop()


def test_an_editable_install_is_found_too(tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    example = shutil.copytree(EXAMPLE, tmp_path / "ftpkit-checksum", ignore=shutil.ignore_patterns(
        "__pycache__", "build", "*.egg-info", "dropin.cache", ".pytest_cache"))
    pip_install(python, str(PROJECT), "-e", str(example))
    found = subprocess.run(
        [str(python), "-c", "from ftpkit.commands.registry import CommandRegistry\n"
         "import ftpkit.plugins.ftpkit_checksum_commands as m\n"
         "print(m.__file__, *sorted(c.name for c in CommandRegistry.from_plugins()))"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert found.returncode == 0, found.stderr
    where, *names = found.stdout.split()
    assert where == str(example / "ftpkit" / "plugins" / "ftpkit_checksum_commands.py")
    assert {"checksum", "du", "ls"} <= set(names)


def _drop_root_file_powers() -> None:
    """In the child: root, but bound by file permissions like anyone else."""
    libc = ctypes.CDLL(None, use_errno=True)
    PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2  # noqa: N806
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_read_only_plugin_directory_still_finds_the_commands(
        venv: Venv, tmp_path: Path) -> None:
    preexec = _drop_root_file_powers if os.geteuid() == 0 else None
    cache = venv.plugins / "dropin.cache"
    cache.unlink(missing_ok=True)
    mode = venv.plugins.stat().st_mode
    venv.plugins.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        probe = subprocess.run([sys.executable, "-c", f"open({str(cache)!r}, 'w')"],
                               preexec_fn=preexec, capture_output=True, text=True)
        if probe.returncode == 0:
            cache.unlink()
            pytest.skip("cannot make a directory read-only for this user here")
        server = make_server(venv, tmp_path, preexec_fn=preexec).start()
        try:
            assert {"checksum", "du"} <= command_names(ok(server, "commands"))
            assert json.loads(ok(server, "call", "du"))["files"] == 2
        finally:
            server.stop()
        assert not cache.exists()
        about_cache = [line for line in server.lines if "dropin.cache" in line]
        assert len(about_cache) <= 1, about_cache
        assert "Traceback" not in server.log, server.log
    finally:
        venv.plugins.chmod(mode)
