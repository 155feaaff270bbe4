"""Build the compiled tree: a copy of ``src/`` in ``build/compiled/src`` with the hot path compiled by mypyc.

Run ``python scripts/build_compiled.py`` (``make compiled`` does, and rebuilds only when a ``.py`` changed). Use the
tree with ``PYTHONPATH=build/compiled/src``: the compiled modules are ``.so`` files there, every other module is the
copied ``.py``. The editable install in ``.venv`` stays pure Python; nothing is ever compiled next to the sources in
``src/``, where a ``.so`` would shadow every later edit of its ``.py``.

Why these modules, and why all in one group: ``benchmarks/results/compile_lever.md`` (a group alone pays nothing;
the whole request loop native pays about 28 % of the interpreter's CPU per request).

Exit status: 0 when the tree was built, or when no C compiler or Python headers are present (a clear message is
printed, any stale tree is removed and callers run pure Python); 1 when mypyc or the C compiler fails on the code,
which is a bug to fix (CI builds this tree and tests it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
OUT = ROOT / "build" / "compiled"
TREE = OUT / "src"
STAMP = OUT / "stamp.json"

# The hot path, compiled as one group (one shared library: calls between these modules stay native).
MODULES: tuple[str, ...] = (
    "hanzo_edge/http/headers.py",
    "hanzo_edge/http/messages.py",
    "hanzo_edge/http/body.py",
    "hanzo_edge/http/forwarded.py",
    "hanzo_edge/http/proxy.py",
    "hanzo_edge/http/pool.py",
    "hanzo_edge/http/upstream.py",
    "hanzo_edge/http/server.py",
    "hanzo_edge/http/pipeline.py",
    "hanzo_edge/routing/table.py",
    # Called on every request by the modules above (path normalisation). Not http/status.py: the protocol tests swap
    # its DATE for a fixed one, which a native DateHeader type would refuse, for no measurable gain.
    "hanzo_edge/http/paths.py",
    # The fused head-only middleware layers the compiled pipeline calls on every request of such a route.
    "hanzo_edge/http/fused_head.py",
    # The gateway's no-op endpoint path (issue 18): with http/* native, the gateway's own per-request modules pay
    # the boxing toll at every call into them unless they are native too (1.15x -> 1.03x the ingress's CPU).
    # Not gateway/gin_router.py: a test monkeypatches GinRouter.
    "hanzo_edge/gateway/noop_fast.py",
    "hanzo_edge/gateway/gin_table.py",
    "hanzo_edge/gateway/hanzo/chain.py",
    # The Prometheus observer the compiled pipeline calls once per request (issue 22): interpreted, it cost
    # +2.2-2.5 us CPU/request end to end (28.8 -> 31.1) though the in-process micro saw +1.2; native, +0.5 (29.3).
    "hanzo_edge/observability/metrics.py",
    # The observer fan-out (two or more observers on) and the headers middleware's usual response hook: one call
    # each per request, interpreted frames before (issue 22).
    "hanzo_edge/observability/fan_out.py",
    "hanzo_edge/middlewares/_headers_response.py",
    # The JSON access-log line (issue 22): the generated renderer costs ~4 us a line interpreted; this hand-written
    # twin (byte-identical, a Hypothesis test compares them) leaves little but orjson.dumps.
    "hanzo_edge/observability/accesslog/json_line.py",
    # The same for the common and genericCLF lines (Traefik's default format): ~1 us interpreted per line saved.
    "hanzo_edge/observability/accesslog/common_line.py",
    # ... and the access log's per-request half (filter, render, append), which calls it natively.
    "hanzo_edge/observability/accesslog/batch.py",
)
GROUP_NAME = "hanzo_edge_hot"

SETUP = """\
from setuptools import setup
from mypyc.build import mypycify

setup(
    name="hanzo_edge_compiled",
    ext_modules=mypycify({paths!r}, opt_level="3", target_dir={c_dir!r}, group_name={group!r}),
)
"""


def toolchain_missing() -> str | None:
    """Why the tree can't be built on this machine (no compiler, no headers, no mypyc), or None."""
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]  # as setuptools picks it
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler!r} is not on PATH)"
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.exists():
        return f"no Python headers ({include} is missing)"
    try:
        import mypyc  # noqa: F401  (only asks whether it is installed)
    except ImportError:
        return "mypyc is not installed (it comes with mypy, in the dev extras)"
    return None


def sync_tree() -> None:
    """Make ``TREE`` a copy of ``src/``: changed files copied, removed ones deleted, compiled outputs kept.

    Copying keeps mtimes, so the C compile step (setuptools) sees unchanged inputs as unchanged.
    """
    wanted: set[Path] = set()
    for path in SRC.rglob("*"):
        rel = path.relative_to(SRC)
        if "__pycache__" in rel.parts or rel.parts[0].endswith(".egg-info") or path.suffix == ".so":
            continue
        wanted.add(rel)
        target = TREE / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        stat = path.stat()
        if (
            not target.exists()
            or target.stat().st_mtime_ns != stat.st_mtime_ns
            or target.stat().st_size != stat.st_size
        ):
            shutil.copy2(path, target)
    compiled = {str(Path(m).with_suffix("")) for m in MODULES}
    for path in sorted(TREE.rglob("*"), reverse=True):
        rel = path.relative_to(TREE)
        if path.suffix == ".so":
            # A module dropped from MODULES must not keep its old extension: it would shadow the copied .py.
            module = str(rel.parent / rel.name.split(".", 1)[0])
            if module in compiled or rel.name.startswith(GROUP_NAME + "__mypyc."):
                continue
        elif rel in wanted or "__pycache__" in rel.parts:
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def compile_modules(modules: tuple[str, ...], verbose: bool) -> subprocess.CompletedProcess[str]:
    """Run mypyc (through setuptools, as ``mypyc`` itself does) inside the copied tree."""
    setup = OUT / "setup_compiled.py"
    setup.write_text(SETUP.format(paths=list(modules), c_dir=str(OUT / "c"), group=GROUP_NAME))
    env = dict(os.environ)
    # mypy's incremental cache lives beside the tree, so a rebuild type-checks only what changed.
    env["MYPY_CACHE_DIR"] = str(OUT / "mypy_cache")
    cmd = [sys.executable, str(setup), "build_ext", "--inplace", "--build-temp", str(OUT / "obj")]
    cmd += ["--build-lib", str(OUT / "lib")]
    return subprocess.run(cmd, cwd=TREE, env=env, text=True, capture_output=not verbose, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--verbose", action="store_true", help="show mypyc's and the compiler's output")
    parser.add_argument("--pure", action="store_true", help="remove the tree (callers fall back to pure Python)")
    args = parser.parse_args()
    if args.pure:
        shutil.rmtree(OUT, ignore_errors=True)
        return 0
    missing = toolchain_missing()
    if missing:
        shutil.rmtree(OUT, ignore_errors=True)
        print(f"build_compiled: {missing}; the hot path runs as pure Python", file=sys.stderr)
        return 0
    started = time.time()
    STAMP.unlink(missing_ok=True)
    TREE.mkdir(parents=True, exist_ok=True)
    sync_tree()
    done = compile_modules(MODULES, args.verbose)
    if done.returncode != 0:
        if not args.verbose:
            print((done.stdout or "")[-6000:], (done.stderr or "")[-6000:], sep="\n", file=sys.stderr)
        print("build_compiled: mypyc failed (above); fix the code or run pure Python", file=sys.stderr)
        return 1
    seconds = time.time() - started
    record = {"modules": list(MODULES), "group": GROUP_NAME, "seconds": round(seconds, 1)}
    STAMP.write_text(json.dumps(record, indent=2) + "\n")
    # The stamp carries the build's start time: a .py edited while the build ran makes the tree stale.
    os.utime(STAMP, (started, started))
    print(f"build_compiled: {len(MODULES)} modules compiled into {TREE} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
