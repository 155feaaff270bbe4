"""Which build of the hot path is under test: `make test-compiled` runs the unit, protocol and property tests with
``PYTHONPATH=build/compiled/src`` and ``HANZO_EDGE_COMPILED_TREE=1``; there every module of
``scripts/build_compiled.py``'s list must be the mypyc extension, or that run would test pure Python twice. In the
ordinary run the same modules must be the ``.py`` sources: a ``.so`` beside them would hide every later edit."""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPILED_RUN = os.environ.get("HANZO_EDGE_COMPILED_TREE") == "1"


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_compiled", ROOT / "scripts" / "build_compiled.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _build_script()
HOT_MODULES = [str(Path(path).with_suffix("")).replace("/", ".") for path in BUILD.MODULES]


@pytest.mark.parametrize("name", HOT_MODULES)
def test_each_hot_module_is_the_build_this_run_is_for(name: str) -> None:
    module = importlib.import_module(name)
    origin = Path(module.__file__ or "")
    if COMPILED_RUN:
        assert origin.suffix == ".so", f"{name} is not compiled in the compiled run: {origin}"
        assert origin.is_relative_to(BUILD.TREE), origin
    else:
        assert origin.suffix == ".py", f"{name} is not the source in the pure run: {origin}"
        assert origin.is_relative_to(ROOT / "src"), origin


def test_no_extension_module_sits_beside_the_sources() -> None:
    # An in-place build would shadow the .py files of the editable install (make install is pip install -e).
    assert sorted((ROOT / "src").rglob("*.so")) == []


def test_the_hot_modules_are_one_group_and_exist() -> None:
    # One group, so calls between them stay native (benchmarks/results/compile_lever.md: a group alone pays nothing).
    assert len(set(BUILD.MODULES)) == len(BUILD.MODULES)
    for path in BUILD.MODULES:
        assert (ROOT / "src" / path).is_file(), path

