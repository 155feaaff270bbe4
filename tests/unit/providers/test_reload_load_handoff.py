"""A provider load in a thread (round two of the reload stalls): the switch interval is lowered while any load runs
and restored after the last, and the composed YAML node tree is emptied piece by piece without changing the data."""

from __future__ import annotations

import sys
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest
import yaml

from hanzo_edge.config.documents import _load_yaml, _shed_nodes, shed_data
from hanzo_edge.providers import file as file_provider
from hanzo_edge.providers.file import FileProvider, _quick_gil_handoff

DOC = (
    """
http:
  routers:
"""
    + "".join(f"    r{i}:\n      rule: Host(`r{i}.test`)\n      service: s\n" for i in range(40))
    + """
  services:
    s:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:1"}, {url: "http://127.0.0.1:2"}]
    anchored: &a {x: [1, 2, 3]}
    alias: *a
"""
)


def _quick(before: float) -> Any:
    """The interval a load runs with (the interpreter keeps it in whole microseconds: 0.0001 reads back rounded)."""
    return pytest.approx(min(before, file_provider.LOAD_SWITCH_INTERVAL), abs=1e-6)


def test_overlapping_loads_lower_the_switch_interval_until_the_last_ends() -> None:
    before = sys.getswitchinterval()
    with _quick_gil_handoff():
        assert sys.getswitchinterval() == _quick(before)
        with _quick_gil_handoff():
            assert sys.getswitchinterval() == _quick(before)
        assert sys.getswitchinterval() == _quick(before)
    assert sys.getswitchinterval() == before


def test_a_provider_load_runs_with_the_quick_handoff(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.yml"
    path.write_text(DOC)
    seen: list[float] = []

    def loader(filename: str, directory: str) -> file_provider.FileSnapshot:
        seen.append(sys.getswitchinterval())
        return file_provider.read_snapshot(filename, directory)

    before = sys.getswitchinterval()
    provider = FileProvider(str(path), loader=loader)
    worker = threading.Thread(target=provider._load)
    worker.start()
    worker.join(timeout=30)
    assert seen == [_quick(before)]
    assert sys.getswitchinterval() == before


def test_the_loaded_data_is_what_pyyaml_loads_and_the_node_tree_is_emptied() -> None:
    assert _load_yaml(DOC) == yaml.load(DOC, Loader=yaml.CSafeLoader)
    root = yaml.compose(DOC, Loader=yaml.CSafeLoader)
    http = root.value[0][1]
    routers = http.value[0][1]
    assert len(routers.value) == 40
    _shed_nodes(root)
    assert root.value == []
    assert http.value == []
    assert routers.value == []


class _Leaf:
    pass


def test_shedding_a_parsed_document_frees_it_and_leaves_what_is_shared() -> None:
    shared = {"kept": [1, 2]}
    leaves = [_Leaf() for _ in range(100)]
    watched = [weakref.ref(leaf) for leaf in leaves]
    routers = {f"r{i}": {"leaf": leaf} for i, leaf in enumerate(leaves)}
    parsed: list[object] = [{"http": {"routers": routers}, "s": shared}]
    del routers
    del leaves
    shed_data(parsed)
    assert parsed == []
    assert [ref() for ref in watched] == [None] * 100
    assert shared == {"kept": [1, 2]}
