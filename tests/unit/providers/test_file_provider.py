from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pathlib

import pytest

from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.providers.base import Provider
from hanzo_edge.providers.file import FileProvider, load_file_snapshot, read_snapshot

ROUTER = "http:\n  routers:\n    {name}:\n      rule: Path(`/{name}`)\n      service: {service}\n"


def _write(path: pathlib.Path, text: str) -> None:
    path.write_text(text)
    # Make every write visible to the mtime-based poller even within one timestamp tick.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            "http:\n  routers:\n    r1:\n      rule: [Path(`/`)]\n",
            "dynamic.yml:4: http.routers.r1.rule: expected string, got a list",
            id="wrong type",
        ),
        pytest.param(
            "http:\n  services:\n    app:\n      loadBalancer:\n        servers:\n          - url: http://a\n"
            "          - weight: 2\n",
            "dynamic.yml:7: http.services.app.loadBalancer.servers[1].url: missing required option",
            id="missing option in list item",
        ),
        pytest.param(
            "http:\n  routers:\n    r1:\n      rule: 'unterminated\n",
            "dynamic.yml:5: invalid YAML: found unexpected end of stream",
            id="yaml syntax",
        ),
        pytest.param(
            "http:\n  services:\n    s:\n      weighted: {}\n      failover: {service: a, fallback: b}\n",
            "dynamic.yml:3: http.services.s: exactly one of",
            id="two kinds",
        ),
    ],
)
def test_errors_name_file_and_line(tmp_path: pathlib.Path, content: str, message: str) -> None:
    path = tmp_path / "dynamic.yml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_file_snapshot(filename=str(path))
    assert str(info.value).startswith(f"{tmp_path}/{message}")


def test_warnings_have_file_and_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "dynamic.yaml"
    path.write_text("http:\n  routers:\n    r:\n      rule: Path(`/`)\n      service: s\n      prority: 3\n")
    config, warnings = load_file_snapshot(filename=str(path))
    assert [str(w) for w in warnings] == [f"{path}:6: http.routers.r.prority: unknown option (ignored)"]
    assert config.http.routers["r"].priority == 0


def test_toml_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "dynamic.toml"
    path.write_text(
        '[http.routers.r]\nrule = "Host(`a`)"\nservice = "s"\n'
        '[[http.services.s.loadBalancer.servers]]\nurl = "http://127.0.0.1:1"\n'
    )
    config, warnings = load_file_snapshot(filename=str(path))
    assert warnings == []
    lb = config.http.services["s"].load_balancer
    assert lb is not None
    assert lb.servers[0].url == "http://127.0.0.1:1"


def test_toml_syntax_error_has_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "dynamic.toml"
    path.write_text('[http.routers.r]\nrule = "x"\nservice = \n')
    with pytest.raises(ConfigError, match=rf"^{tmp_path}/dynamic.toml:3: invalid TOML: "):
        load_file_snapshot(filename=str(path))


def test_directory_merges_sorted_files_first_definition_wins(tmp_path: pathlib.Path) -> None:
    (tmp_path / "b.yml").write_text(ROUTER.format(name="shared", service="from-b"))
    (tmp_path / "a.yaml").write_text(ROUTER.format(name="shared", service="from-a"))
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "c.toml").write_text('[http.routers.c]\nrule = "Path(`/c`)"\nservice = "c"\n')
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden.yml").write_text("not: [valid")
    data = tmp_path / "..data"
    data.mkdir()
    (data / "dup.yml").write_text(ROUTER.format(name="shared", service="from-configmap-internals"))
    config, warnings = load_file_snapshot(directory=str(tmp_path))
    assert config.http.routers["shared"].service == "from-a"
    assert set(config.http.routers) == {"shared", "c"}
    assert [str(w) for w in warnings] == [
        f"{tmp_path}/b.yml: http.routers.shared: already defined in {tmp_path}/a.yaml; this definition is ignored"
    ]


def test_directory_with_a_bad_file_fails(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.yml").write_text(ROUTER.format(name="a", service="s"))
    (tmp_path / "b.yml").write_text("http: [")
    with pytest.raises(ConfigError, match=r"b\.yml:\d+: invalid YAML"):
        load_file_snapshot(directory=str(tmp_path))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({}, "providers.file: exactly one of filename or directory must be set", id="neither"),
        pytest.param({"filename": "a", "directory": "b"}, "exactly one of filename or directory", id="both"),
        pytest.param({"filename": "/nonexistent.yml"}, "/nonexistent.yml: cannot read file", id="missing file"),
        pytest.param({"directory": "/nonexistent-dir"}, "/nonexistent-dir: cannot read directory", id="missing dir"),
        pytest.param({"filename": "/etc/hostname.json"}, "cannot read file", id="unreadable or unsupported"),
    ],
)
def test_bad_arguments(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_file_snapshot(**kwargs)
    assert message in str(info.value)


# ------------------------------------------------------------------------------------------------------ watching


class _Collector:
    """Drain a provider's watch() in a task (cancelling a pending anext() would close the generator)."""

    def __init__(self, provider: FileProvider) -> None:
        self.provider = provider
        self.queue: asyncio.Queue[Configuration | BaseException] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for config in self.provider.watch():
                self.queue.put_nowait(config)
        except Exception as exc:
            self.queue.put_nowait(exc)

    async def next(self, timeout: float = 5.0) -> Configuration:
        item = await asyncio.wait_for(self.queue.get(), timeout)
        if isinstance(item, BaseException):
            raise item
        return item

    async def assert_quiet(self, polls: int = 5) -> None:
        """Assert that nothing is yielded during a few poll intervals."""
        await asyncio.sleep(self.provider.poll_interval * polls)
        assert self.queue.empty()

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def test_file_provider_is_a_provider() -> None:
    provider: Provider = FileProvider(filename="x.yml")
    assert provider.name == "file"


def test_watch_yields_changes_and_keeps_last_good(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "dynamic.yml"
    _write(path, ROUTER.format(name="one", service="s"))
    provider = FileProvider(filename=str(path), poll_interval=0.01)

    async def scenario() -> None:
        watcher = _Collector(provider)
        try:
            first = await watcher.next()
            assert set(first.http.routers) == {"one"}

            _write(path, ROUTER.format(name="two", service="s"))
            second = await watcher.next()
            assert set(second.http.routers) == {"two"}

            with caplog.at_level(logging.ERROR, logger="hanzo_edge.providers.file"):
                _write(path, "http:\n  routers:\n    two:\n      rule: [oops]\n")
                await watcher.assert_quiet()
            assert f"{path}:4: http.routers.two.rule: expected string" in caplog.text
            assert "keeping the last good configuration" in caplog.text

            _write(path, ROUTER.format(name="two", service="s"))  # same content as the last good: dropped
            await watcher.assert_quiet()

            _write(path, ROUTER.format(name="three", service="s"))
            third = await watcher.next()
            assert set(third.http.routers) == {"three"}
        finally:
            await watcher.close()

    asyncio.run(scenario())


def test_watch_sees_configmap_style_symlink_swap(tmp_path: pathlib.Path) -> None:
    v1 = tmp_path / "..v1"
    v2 = tmp_path / "..v2"
    v1.mkdir()
    v2.mkdir()
    (v1 / "dynamic.yml").write_text(ROUTER.format(name="old", service="s"))
    (v2 / "dynamic.yml").write_text(ROUTER.format(name="new", service="s"))
    (tmp_path / "..data").symlink_to("..v1")
    (tmp_path / "dynamic.yml").symlink_to("..data/dynamic.yml")
    provider = FileProvider(directory=str(tmp_path), poll_interval=0.01)

    async def scenario() -> None:
        watcher = _Collector(provider)
        try:
            assert set((await watcher.next()).http.routers) == {"old"}
            tmp_link = tmp_path / "..data_tmp"
            tmp_link.symlink_to("..v2")
            os.replace(tmp_link, tmp_path / "..data")  # the atomic swap kubelet does
            assert set((await watcher.next()).http.routers) == {"new"}
        finally:
            await watcher.close()

    asyncio.run(scenario())


def test_a_single_file_that_fails_at_startup_serves_nothing_and_is_picked_up_once_fixed(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "dynamic.yml"
    _write(path, "http: [")
    failures: list[None] = []
    provider = FileProvider(filename=str(path), poll_interval=0.01, on_failure=lambda: failures.append(None))

    async def scenario() -> None:
        watcher = _Collector(provider)
        try:
            with caplog.at_level(logging.ERROR, logger="hanzo_edge.providers.file"):
                first = await watcher.next()
            assert first.is_empty()
            assert f"{path}:2: invalid YAML" in caplog.text
            assert "nothing is served from the file provider until it loads" in caplog.text
            assert len(failures) == 1

            _write(path, ROUTER.format(name="one", service="s"))
            assert set((await watcher.next()).http.routers) == {"one"}
            assert len(failures) == 1
        finally:
            await watcher.close()

    asyncio.run(scenario())


def test_a_bad_file_in_a_directory_at_startup_leaves_out_only_that_file(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path / "a.yml", ROUTER.format(name="a", service="s"))
    _write(tmp_path / "b.yml", "http:\n  routers:\n    b:\n      rule: [oops]\n")
    _write(tmp_path / "c.yml", ROUTER.format(name="c", service="s"))
    failures: list[None] = []
    provider = FileProvider(directory=str(tmp_path), poll_interval=0.01, on_failure=lambda: failures.append(None))

    async def scenario() -> None:
        watcher = _Collector(provider)
        try:
            with caplog.at_level(logging.ERROR, logger="hanzo_edge.providers.file"):
                first = await watcher.next()
            assert set(first.http.routers) == {"a", "c"}
            assert f"{tmp_path}/b.yml:4: http.routers.b.rule: expected string" in caplog.text
            assert "left out until it loads; the files that load are served" in caplog.text
            assert len(failures) == 1

            # Nothing complete was ever served, so a change to a good file applies although b.yml is still bad.
            _write(tmp_path / "c.yml", ROUTER.format(name="c2", service="s"))
            assert set((await watcher.next()).http.routers) == {"a", "c2"}
            assert len(failures) == 2

            _write(tmp_path / "b.yml", ROUTER.format(name="b", service="s"))
            assert set((await watcher.next()).http.routers) == {"a", "b", "c2"}
            assert len(failures) == 2

            # Complete from now on: a bad edit keeps the last good snapshot (every router of it) and is counted.
            _write(tmp_path / "a.yml", "http: [")
            await watcher.assert_quiet()
            assert len(failures) == 3
        finally:
            await watcher.close()

    asyncio.run(scenario())


def test_read_snapshot_reports_each_bad_file_and_keeps_the_others(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a.yml").write_text(ROUTER.format(name="a", service="s"))
    (tmp_path / "b.yml").write_text("http: [")
    (tmp_path / "c.toml").write_text("[http\n")

    snapshot = read_snapshot(directory=str(tmp_path))

    assert set(snapshot.config.http.routers) == {"a"}
    assert [str(error).split(":")[0] for error in snapshot.errors] == [f"{tmp_path}/b.yml", f"{tmp_path}/c.toml"]


def test_a_missing_directory_is_an_error_not_an_exception(tmp_path: pathlib.Path) -> None:
    snapshot = read_snapshot(directory=str(tmp_path / "absent"))

    assert snapshot.config.is_empty()
    assert "cannot read directory" in str(snapshot.errors[0])


def test_without_watch_yields_once_then_waits(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "dynamic.yml"
    _write(path, ROUTER.format(name="one", service="s"))
    provider = FileProvider(filename=str(path), watch=False, poll_interval=0.01)

    async def scenario() -> None:
        watcher = _Collector(provider)
        try:
            assert set((await watcher.next()).http.routers) == {"one"}
            _write(path, ROUTER.format(name="two", service="s"))
            await watcher.assert_quiet()
        finally:
            await watcher.close()

    asyncio.run(scenario())
