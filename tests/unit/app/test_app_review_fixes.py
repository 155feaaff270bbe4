"""IngressApp edge cases: a failed build keeps the last good snapshot; a router's own ``tls: {}`` means ``default``."""

from __future__ import annotations

from typing import Any

import pytest

from hanzo_edge.app import IngressApp
from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.loader import load_static


def _config(document: dict[str, Any]) -> Configuration:
    config, _ = decode_dynamic(document)
    return config


def _router(host: str, **extra: Any) -> dict[str, Any]:
    return {
        "http": {
            "routers": {"r": {"rule": f"Host(`{host}`)", "service": "s", **extra}},
            "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}},
        }
    }


def test_a_snapshot_whose_build_fails_is_not_kept_for_later_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    app = IngressApp(load_static(["--entrypoints.web.address=127.0.0.1:0"], {}, search=False))
    good, bad = _config(_router("good.test")), _config(_router("bad.test"))
    app.apply_snapshot("file", good)
    real_rebuild = app.rebuild

    def failing_rebuild() -> Any:
        raise RuntimeError("build failed")

    monkeypatch.setattr(app, "rebuild", failing_rebuild)
    with pytest.raises(RuntimeError):
        app.apply_snapshot("file", bad)
    assert app.snapshots["file"] is good

    with pytest.raises(RuntimeError):
        app.apply_snapshot("other", good)
    assert "other" not in app.snapshots
    monkeypatch.setattr(app, "rebuild", real_rebuild)
    app.pools.close()


def test_a_routers_own_empty_tls_uses_default_options_not_the_entrypoints() -> None:
    static = load_static(
        [
            "--entrypoints.websecure.address=127.0.0.1:0",
            "--entrypoints.websecure.http.tls.options=strict@file",
        ],
        {},
        search=False,
    )
    app = IngressApp(static)
    document = {
        **_router("own.test", tls={}),
        "tls": {"options": {"strict": {"minVersion": "VersionTLS13"}}},
    }
    document["http"]["routers"]["inherits"] = {"rule": "Host(`inherits.test`)", "service": "s"}
    app.apply_snapshot("file", _config(document))

    catalog = app.last_build.tls if app.last_build is not None else None
    assert catalog is not None
    # Traefik's applyModel copies the entrypoint's tls only into routers that have none.
    assert catalog.options_for_host("websecure", "own.test") == "default"
    assert catalog.options_for_host("websecure", "inherits.test") == "strict@file"
    app.pools.close()
