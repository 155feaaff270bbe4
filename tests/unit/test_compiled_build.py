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


def test_sync_copies_changes_and_drops_what_would_shadow_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, tree = tmp_path / "src", tmp_path / "tree"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "hot.py").write_text("x = 1\n")
    (src / "pkg" / "cold.py").write_text("y = 1\n")
    (tree / "pkg" / "__pycache__").mkdir(parents=True)
    (tree / "pkg" / "hot.cpython-311-x86_64-linux-gnu.so").write_bytes(b"ext")  # listed: kept
    (tree / "pkg" / "cold.cpython-311-x86_64-linux-gnu.so").write_bytes(b"ext")  # no longer listed: would shadow
    (tree / f"{BUILD.GROUP_NAME}__mypyc.cpython-311-x86_64-linux-gnu.so").write_bytes(b"lib")  # the group: kept
    (tree / "pkg" / "gone.py").write_text("removed from src\n")
    monkeypatch.setattr(BUILD, "SRC", src)
    monkeypatch.setattr(BUILD, "TREE", tree)
    monkeypatch.setattr(BUILD, "MODULES", ("pkg/hot.py",))
    BUILD.sync_tree()
    left = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())
    assert left == [
        f"{BUILD.GROUP_NAME}__mypyc.cpython-311-x86_64-linux-gnu.so",
        "pkg/cold.py",
        "pkg/hot.cpython-311-x86_64-linux-gnu.so",
        "pkg/hot.py",
    ]
    (src / "pkg" / "cold.py").write_text("y = 2  # edited\n")
    BUILD.sync_tree()
    assert (tree / "pkg" / "cold.py").read_text() == "y = 2  # edited\n"
