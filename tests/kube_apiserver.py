"""A fake Kubernetes API server for tests and benchmarks: real HTTP(S) on 127.0.0.1, objects in memory.

No real API server can be installed here, so the providers are tested against this one, validated with real
``kubectl`` (``tests/integration/test_kube_fake_kubectl.py``: ``get -w``, ``apply --validate=false``, ``delete``
over HTTPS with a token). Never say "tested against Kubernetes".

What it does as the real one does:

* discovery (``/version``, ``/api``, ``/apis``, ``/api/v1``, ``/apis/<group>/<version>``), un-aggregated;
* list (``labelSelector``: =, ==, !=, in, notin, exists, !; ``fieldSelector`` on ``metadata.name`` and
  ``metadata.namespace``) and ``watch=true`` from a ``resourceVersion`` (one global counter; events after it are
  replayed from history; "" or "0" starts with a synthetic ADDED per object), ``allowWatchBookmarks`` (BOOKMARK
  events every ``bookmark_interval`` seconds and on `send_bookmarks`), ``timeoutSeconds`` (the stream ends
  cleanly), an ``ERROR`` event with a 410 ``Expired`` Status for a resourceVersion older than the history kept;
  an object that stops (starts) matching a watch's selector is sent as DELETED (ADDED);
* create (POST), replace (PUT, 409 on a stale ``resourceVersion``), JSON merge patch and the strategic merge patch
  kubectl's client-side apply sends (``$setElementOrder``/``$patch: delete`` directives, lists merged by the key
  the directive names, other lists replaced), delete; the ``status`` subresource (PUT/PATCH ``.../status`` change
  only ``status``; writes to the object itself keep the stored ``status``) for ingresses, services and nodes;
* the DefaultIngressClass admission step: an Ingress created with neither ``spec.ingressClassName`` nor the
  ``kubernetes.io/ingress.class`` annotation gets the name of the IngressClass annotated
  ``ingressclass.kubernetes.io/is-default-class: "true"`` (the newest one when several are);
* core ``v1`` Endpoints derived from the EndpointSlices of each Service (label ``kubernetes.io/service-name``);
* bearer-token authentication (401 Status without it), TLS from a trustme CA (`ca_pem`, `write_kubeconfig`).

Test hooks: `cut_watches` (half a JSON line, then the connection is aborted), `refuse` (stop listening for N
seconds, optionally losing the watch history as a restarted API server does), `restart`, `compact`,
`end_watches`, `list_calls`, `requests`, ``crds=False`` (the ``traefik.io`` group is absent: 404),
``watch_chunk_size`` (events split across HTTP chunks, as a proxy in between may split them).

Use: ``with FakeApiServer(tls=True, token="t") as api: api.create({...}); api.url``. It runs its own event loop in
a daemon thread; every public method is thread-safe and may be called from a test's own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import ssl
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from hanzo_edge.providers.kubernetes.resources import (
    CORE_RESOURCES,
    CRD_RESOURCES,
    ENDPOINT_SLICES,
    ENDPOINTS,
    INGRESS_CLASSES,
    INGRESSES,
    NODES,
    SERVICES,
    Resource,
)
from hanzo_edge.providers.kubernetes.selectors import LabelSelector, SelectorError, parse_selector

__all__ = ["NAMESPACES", "FakeApiServer"]

NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
ALL_RESOURCES: tuple[Resource, ...] = (*CORE_RESOURCES, NAMESPACES, *CRD_RESOURCES)
WITH_STATUS = frozenset({INGRESSES, SERVICES, NODES, NAMESPACES})
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SHORT_NAMES = {
    "ingresses": ["ing"],
    "services": ["svc"],
    "endpoints": ["ep"],
    "configmaps": ["cm"],
    "namespaces": ["ns"],
    "nodes": ["no"],
}

Obj = dict[str, Any]
Key = tuple[str, str]
T = TypeVar("T")


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


def status_body(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


@dataclass
class Change:
    rv: int
    resource: Resource
    type: str
    old: Obj | None
    new: Obj | None


@dataclass
class FieldSelector:
    """``metadata.name=x,metadata.namespace!=y`` (the fields kubectl uses)."""

    terms: list[tuple[str, bool, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> FieldSelector:
        terms = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            for op, positive in (("!=", False), ("==", True), ("=", True)):
                if op in part:
                    name, _, value = part.partition(op)
                    if name.strip() not in ("metadata.name", "metadata.namespace"):
                        raise ApiError(400, "BadRequest", f'field label not supported: "{name.strip()}"')
                    terms.append((name.strip(), positive, value.strip()))
                    break
            else:
                raise ApiError(400, "BadRequest", f"invalid field selector: {text!r}")
        return cls(terms)

    def matches(self, obj: Obj) -> bool:
        metadata = obj.get("metadata") or {}
        for name, positive, value in self.terms:
            actual = metadata.get(name.split(".", 1)[1], "")
            if (actual == value) != positive:
                return False
        return True


@dataclass(eq=False)
class Watch:
    resource: Resource
    namespace: str
    labels: LabelSelector
    fields: FieldSelector
    bookmarks: bool
    writer: asyncio.StreamWriter
    queue: asyncio.Queue[Change | None] = field(default_factory=asyncio.Queue)

    def visible(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        metadata = obj.get("metadata") or {}
        if self.namespace and metadata.get("namespace", "") != self.namespace:
            return False
        return self.labels.matches(metadata.get("labels")) and self.fields.matches(obj)

    def event_for(self, change: Change) -> tuple[str, Obj] | None:
        if change.resource != self.resource:
            return None
        was, now = self.visible(change.old), self.visible(change.new)
        if change.type == "DELETED":
            return ("DELETED", change.old) if was and change.old is not None else None
        if now and change.new is not None:
            return ("MODIFIED" if was else "ADDED", change.new)
        if was and change.new is not None:
            return ("DELETED", change.new)
        return None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """The strategic merge patch subset kubectl's client-side apply produces.

    Maps merge recursively (``null`` deletes); ``$setElementOrder/<list>`` names the merge key of ``<list>`` (its
    entries carry only that key), and the list is then merged by it, ``$patch: delete`` entries removing; other
    lists are replaced. ``$retainKeys`` is honoured; other directives are dropped.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    orders = {k.split("/", 1)[1]: v for k, v in patch.items() if k.startswith("$setElementOrder/")}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in orders:
            result[key] = _merge_list(result.get(key), value, orders[key])
        elif isinstance(value, dict):
            result[key] = strategic_merge_patch(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    for key, order in orders.items():
        if key not in patch and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], [], order)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(current: Any, patch: list[Any], order: list[Any]) -> list[Any]:
    keys = {k for entry in order if isinstance(entry, dict) for k in entry}
    if len(keys) != 1 or not all(isinstance(entry, dict) for entry in patch):
        return copy.deepcopy(patch)
    (merge_key,) = keys
    items = {entry.get(merge_key): entry for entry in (current or []) if isinstance(entry, dict)}
    for entry in patch:
        name = entry.get(merge_key)
        if entry.get("$patch") == "delete":
            items.pop(name, None)
        else:
            items[name] = strategic_merge_patch(items.get(name), entry)
    ordered = [items.pop(entry.get(merge_key)) for entry in order if entry.get(merge_key) in items]
    return ordered + list(items.values())


def _without_version(obj: Obj) -> Obj:
    return {**obj, "metadata": {**obj.get("metadata", {}), "resourceVersion": ""}}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class FakeApiServer:
    """See the module docstring."""

    def __init__(
        self,
        *,
        tls: bool = False,
        token: str | None = None,
        crds: bool = True,
        bookmark_interval: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        watch_chunk_size: int | None = None,
    ) -> None:
        self.tls = tls
        self.token = token
        self.crds = crds
        self.bookmark_interval = bookmark_interval
        self.watch_chunk_size = watch_chunk_size
        """Split every watch event into HTTP chunks of at most this many bytes (None: one chunk per event)."""
        self.host = host
        self.port = port
        self.ca_pem: bytes | None = None
        self._ssl: ssl.SSLContext | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._store: dict[Resource, dict[Key, Obj]] = {r: {} for r in ALL_RESOURCES}
        self._created_rv: dict[tuple[Resource, Key], int] = {}
        self._slices_by_service: dict[Key, set[Key]] = {}
        self._rv = 100
        self._history: list[Change] = []
        self._compacted = 0
        self._watches: set[Watch] = set()
        self._list_calls: Counter[tuple[str, str]] = Counter()
        self._refusing_until = 0.0
        self.requests: list[tuple[str, str]] = []
        """Every request as (method, path?query), in order."""

    # -- lifecycle -------------------------------------------------------------------------------------------

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeApiServer:
        if self.tls:
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost", "kubernetes.default.svc")
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(self._ssl)
            self._ssl.set_alpn_protocols(["http/1.1"])
            self.ca_pem = ca.cert_pem.bytes()
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-apiserver-")
        started = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._listen())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-apiserver", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("fake API server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop
        with contextlib.suppress(Exception):
            self._call(self._shutdown)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = None
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def ca_file(self) -> str:
        """The CA certificate as a file (for ``certAuthFilePath`` or a kubeconfig)."""
        if self.ca_pem is None or self._tmp is None:
            raise RuntimeError("not a TLS server")
        path = os.path.join(self._tmp.name, "ca.crt")
        with open(path, "wb") as handle:
            handle.write(self.ca_pem)
        return path

    def write_kubeconfig(self, path: str, namespace: str = "default") -> str:
        """Write a kubeconfig whose current context points at this server (CA and token included)."""
        import base64

        import yaml

        cluster: Obj = {"server": self.url}
        if self.ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode()
        user: Obj = {"token": self.token} if self.token else {}
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": cluster}],
            "users": [{"name": "fake", "user": user}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}],
            "current-context": "fake",
        }
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(document, handle)
        return path

    # -- thread-safe store API -------------------------------------------------------------------------------

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._loop is None:
            raise RuntimeError("fake API server not started")

        async def run() -> T:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result  # type: ignore[no-any-return]

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def create(self, obj: Obj) -> Obj:
        """Create an object (admission steps included); its resource is found from ``apiVersion``/``kind``."""
        resource = self._resource_of(obj)
        namespace = (obj.get("metadata") or {}).get("namespace", "default") if resource.namespaced else ""
        return self._call(self._create, resource, namespace, copy.deepcopy(obj))

    def apply(self, obj: Obj) -> Obj:
        """Create the object, or replace it (its stored status kept unless `obj` has one) when it exists."""
        resource = self._resource_of(obj)
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace", "default") if resource.namespaced else ""

        def apply() -> Obj:
            current = self._store[resource].get((namespace, metadata["name"]))
            if current is None:
                return self._create(resource, namespace, copy.deepcopy(obj))
            new = copy.deepcopy(obj)
            new.setdefault("metadata", {}).pop("resourceVersion", None)
            if resource in WITH_STATUS and "status" not in new and "status" in current:
                new["status"] = current["status"]
            return self._replace(resource, namespace, metadata["name"], new, status_only=False, keep_status=False)

        return self._call(apply)

    def apply_all(self, objects: Iterable[Obj]) -> None:
        for obj in objects:
            self.apply(obj)

    def delete(self, resource: Resource, namespace: str, name: str) -> Obj:
        return self._call(self._delete, resource, namespace if resource.namespaced else "", name)

    def get(self, resource: Resource, namespace: str, name: str) -> Obj | None:
        def get() -> Obj | None:
            found = self._store[resource].get((namespace if resource.namespaced else "", name))
            return copy.deepcopy(found) if found is not None else None

        return self._call(get)

    def objects(self, resource: Resource) -> dict[Key, Obj]:
        return self._call(lambda: copy.deepcopy(self._store[resource]))

    @property
    def resource_version(self) -> int:
        return self._call(lambda: self._rv)

    def list_calls(self, resource: Resource, namespace: str | None = None) -> int:
        """How many list requests (not watches) this resource got (in `namespace`, or in total)."""

        def count() -> int:
            return sum(
                n
                for (plural, ns), n in self._list_calls.items()
                if plural == str(resource) and (namespace is None or ns == namespace)
            )

        return self._call(count)

    def watch_count(self, resource: Resource | None = None) -> int:
        """How many watch streams are open (for `resource`, or in total)."""
        return self._call(lambda: sum(1 for w in self._watches if resource is None or w.resource == resource))

    def cut_watches(self) -> int:
        """Cut every watch stream in the middle of an event: half a JSON line, then the connection is aborted."""
        return self._call(self._cut_watches)

    def compact(self, before: int | None = None) -> None:
        """Forget the watch history before resourceVersion `before` (default: all of it, as a restart does): a
        watch from an older version gets 410 Expired."""
        self._call(self._compact, before)

    def send_bookmarks(self) -> None:
        self._call(self._send_bookmarks)

    def end_watches(self) -> int:
        """End every watch stream cleanly (the last chunk), as the server does when ``timeoutSeconds`` passes."""

        def end() -> int:
            for watch in self._watches:
                watch.queue.put_nowait(Change(self._rv, watch.resource, "END", None, None))
            return len(self._watches)

        return self._call(end)

    def refuse(self, seconds: float | None, lose_history: bool = False) -> None:
        """Stop listening (connections are refused) and drop every open connection; listen again after
        `seconds` (None: until `resume`). With `lose_history`, the server comes back as a restarted one: every
        resourceVersion from before is too old (410 Expired)."""
        self._call(self._refuse, seconds, lose_history)

    def resume(self) -> None:
        """Listen again (after `refuse`), on the same port."""
        self._call(self._listen)

    def restart(self) -> None:
        """Drop every connection and come back at once without watch history (as a restarted API server)."""
        self.refuse(0.0, lose_history=True)

    @property
    def refusing(self) -> bool:
        return self._call(lambda: self._server is None)

    # -- store (server loop only) ----------------------------------------------------------------------------

    def _resource_of(self, obj: Obj) -> Resource:
        for resource in ALL_RESOURCES:
            if resource.api_version == obj.get("apiVersion") and resource.kind == obj.get("kind"):
                return resource
        raise ValueError(f"unknown kind {obj.get('apiVersion')}/{obj.get('kind')}")

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _commit(self, resource: Resource, kind: str, old: Obj | None, new: Obj | None, rv: int) -> None:
        change = Change(rv, resource, kind, old, new)
        self._history.append(change)
        for watch in self._watches:
            watch.queue.put_nowait(change)
        if resource == ENDPOINT_SLICES:
            # Index slices by Service (so 5,000 slices load in linear time) and derive the Endpoints of the
            # Service(s) the slice belonged to before and after this change.
            touched = []
            for obj, add in ((old, False), (new, True)):
                if obj is None:
                    continue
                metadata = obj.get("metadata") or {}
                service = (metadata.get("labels") or {}).get(SERVICE_NAME_LABEL)
                if not service:
                    continue
                owner = (metadata.get("namespace", ""), service)
                members = self._slices_by_service.setdefault(owner, set())
                if add:
                    members.add((owner[0], metadata["name"]))
                else:
                    members.discard((owner[0], metadata["name"]))
                touched.append(owner)
            for namespace, service in dict.fromkeys(touched):
                self._derive_endpoints(namespace, service)

    def _create(self, resource: Resource, namespace: str, obj: Obj) -> Obj:
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name"):
            if metadata.get("generateName"):
                metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
            else:
                raise ApiError(
                    422,
                    "Invalid",
                    f"{resource.kind}.{resource.group} is invalid: metadata.name: Required value: "
                    "name or generateName is required",
                )
        if resource.namespaced:
            if metadata.get("namespace") and metadata["namespace"] != namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        key = (namespace, metadata["name"])
        if key in self._store[resource]:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{resource.plural}.{resource.group or ""} "{metadata["name"]}" already exists'.replace('. "', ' "'),
            )
        if resource.namespaced and ("", namespace) not in self._store[NAMESPACES]:
            # Namespaces spring into existence on first use (a real server refuses; kubectl checks they exist).
            self._create(NAMESPACES, "", {"metadata": {"name": namespace}, "spec": {}, "status": {"phase": "Active"}})
        if resource == INGRESSES:
            self._admit_default_ingress_class(obj)
        obj["kind"] = resource.kind
        obj["apiVersion"] = resource.api_version
        rv = self._next_rv()
        metadata.update(uid=str(uuid.uuid4()), resourceVersion=str(rv), creationTimestamp=_now(), generation=1)
        self._store[resource][key] = obj
        self._created_rv[(resource, key)] = rv
        self._commit(resource, "ADDED", None, obj, rv)
        return copy.deepcopy(obj)

    def _admit_default_ingress_class(self, ingress: Obj) -> None:
        """Kubernetes' DefaultIngressClass admission plugin, on create only."""
        spec = ingress.setdefault("spec", {})
        annotations = (ingress.get("metadata") or {}).get("annotations") or {}
        if spec.get("ingressClassName") or annotations.get(LEGACY_CLASS_ANNOTATION):
            return
        defaults = [
            (self._created_rv.get((INGRESS_CLASSES, key), 0), obj["metadata"]["name"])
            for key, obj in self._store[INGRESS_CLASSES].items()
            if ((obj["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true")
        ]
        if defaults:
            spec["ingressClassName"] = max(defaults)[1]

    def _replace(
        self, resource: Resource, namespace: str, name: str, new: Obj, *, status_only: bool, keep_status: bool = True
    ) -> Obj:
        key = (namespace, name)
        current = self._store[resource].get(key)
        if current is None:
            raise ApiError(404, "NotFound", self._not_found(resource, name))
        metadata = new.setdefault("metadata", {})
        if metadata.get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        asked_rv = metadata.get("resourceVersion")
        if asked_rv and asked_rv != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.plural} "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
            )
        if status_only:
            updated = copy.deepcopy(current)
            if "status" in new:
                updated["status"] = new["status"]
            else:
                updated.pop("status", None)
        else:
            updated = new
            if resource in WITH_STATUS and keep_status:
                if "status" in current:
                    updated["status"] = current["status"]
                else:
                    updated.pop("status", None)
            fixed = current["metadata"]
            metadata.update(
                name=name,
                uid=fixed["uid"],
                creationTimestamp=fixed["creationTimestamp"],
                generation=fixed.get("generation", 1) + (1 if new.get("spec") != current.get("spec") else 0),
            )
            if resource.namespaced:
                metadata["namespace"] = namespace
        updated["kind"] = resource.kind
        updated["apiVersion"] = resource.api_version
        if _without_version(updated) == _without_version(current):
            return copy.deepcopy(current)  # a no-op write changes nothing, as the real server (no new version)
        rv = self._next_rv()
        updated["metadata"]["resourceVersion"] = str(rv)
        self._store[resource][key] = updated
        self._commit(resource, "MODIFIED", current, updated, rv)
        return copy.deepcopy(updated)

    def _delete(self, resource: Resource, namespace: str, name: str) -> Obj:
        key = (namespace, name)
        current = self._store[resource].pop(key, None)
        if current is None:
            raise ApiError(404, "NotFound", self._not_found(resource, name))
        self._created_rv.pop((resource, key), None)
        rv = self._next_rv()
        gone = copy.deepcopy(current)
        gone["metadata"]["resourceVersion"] = str(rv)
        self._commit(resource, "DELETED", gone, None, rv)
        return gone

    def _derive_endpoints(self, namespace: str, service: str) -> None:
        store = self._store[ENDPOINT_SLICES]
        slices = [store[key] for key in sorted(self._slices_by_service.get((namespace, service), ())) if key in store]
        key = (namespace, service)
        if not slices:
            if key in self._store[ENDPOINTS]:
                self._delete(ENDPOINTS, namespace, service)
            return
        subsets = []
        for piece in slices:
            ready, not_ready = [], []
            for endpoint in piece.get("endpoints") or []:
                target = ready if (endpoint.get("conditions") or {}).get("ready") is not False else not_ready
                target.extend({"ip": address} for address in endpoint.get("addresses") or [])
            subset: Obj = {
                "ports": [
                    {k: v for k, v in port.items() if k in ("name", "port", "protocol")}
                    for port in piece.get("ports") or []
                ]
            }
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            subsets.append(subset)
        endpoints = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": service, "namespace": namespace, "labels": {SERVICE_NAME_LABEL: service}},
            "subsets": subsets,
        }
        if key in self._store[ENDPOINTS]:
            self._replace(ENDPOINTS, namespace, service, endpoints, status_only=False)
        else:
            self._create(ENDPOINTS, namespace, endpoints)

    def _not_found(self, resource: Resource, name: str) -> str:
        group = f".{resource.group}" if resource.group else ""
        return f'{resource.plural}{group} "{name}" not found'

    def _compact(self, before: int | None = None) -> None:
        if before is None:
            self._rv += 1  # the real store moves on meanwhile (leases, events): the old versions are strictly older
            before = self._rv
        self._compacted = before
        self._history = [change for change in self._history if change.rv > before]

    def _cut_watches(self) -> int:
        cut = 0
        for watch in list(self._watches):
            line = orjson.dumps(
                {"type": "MODIFIED", "object": {"kind": watch.resource.kind, "metadata": {"name": "cut"}}}
            )
            half = line[: len(line) // 2]
            with contextlib.suppress(Exception):
                watch.writer.write(b"%x\r\n%s\r\n" % (len(half), half))
                watch.writer.transport.abort()
            watch.queue.put_nowait(None)
            cut += 1
        self._watches.clear()
        return cut

    def _send_bookmarks(self) -> None:
        for watch in self._watches:
            if watch.bookmarks:
                watch.queue.put_nowait(Change(self._rv, watch.resource, "BOOKMARK", None, None))

    def _refuse(self, seconds: float | None, lose_history: bool) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._cut_watches()
        for writer in list(self._connections):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._connections.clear()
        if lose_history:
            self._compact()
        if seconds is not None and self._loop is not None:
            loop = self._loop
            loop.call_later(seconds, lambda: loop.create_task(self._listen()))

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._cut_watches()
        for writer in list(self._connections):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        # Cancel and await the connection handlers before the loop stops: a handler left pending is destroyed with
        # its transport still open ("Task was destroyed but it is pending", unclosed-transport warnings).
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, ssl=self._ssl, reuse_address=True, limit=1 << 20
        )
        self.port = self._server.sockets[0].getsockname()[1]

    # -- HTTP ------------------------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                try:
                    request_line = await reader.readuntil(b"\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError):
                    return
                headers: dict[str, str] = {}
                while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = b""
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    while (size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)) > 0:
                        body += await reader.readexactly(size)
                        await reader.readexactly(2)
                    while await reader.readuntil(b"\r\n") != b"\r\n":
                        pass
                elif headers.get("content-length"):
                    body = await reader.readexactly(int(headers["content-length"]))
                method, target, _ = request_line.decode("latin-1").split(" ", 2)
                keep_open = await self._handle(method, target, headers, body, writer)
                if not keep_open:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError, ValueError):
            return
        except asyncio.CancelledError:
            # Cancelled by stop(): end normally, or asyncio's stream callback re-raises the cancellation.
            return
        finally:
            self._connections.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    def _respond(self, writer: asyncio.StreamWriter, code: int, document: Any) -> None:
        body = orjson.dumps(document)
        reasons = {
            200: "OK",
            201: "Created",
            400: "Bad Request",
            401: "Unauthorized",
            404: "Not Found",
            405: "Method Not Allowed",
            409: "Conflict",
            410: "Gone",
            415: "Unsupported Media Type",
            422: "Unprocessable Entity",
            500: "Internal Server Error",
        }
        head = (
            f"HTTP/1.1 {code} {reasons.get(code, 'Status')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nDate: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)

    async def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        self.requests.append((method, target))
        split = urlsplit(target)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        path = [unquote(p) for p in split.path.split("/") if p]
        try:
            if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            discovery = self._discovery(path)
            if discovery is not None:
                if method != "GET":
                    raise ApiError(
                        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                    )
                self._respond(writer, 200, discovery)
                await writer.drain()
                return True
            resource, namespace, name, subresource = self._route(path)
            if method == "GET" and name is None and query.get("watch") in ("true", "1"):
                await self._watch(writer, resource, namespace, query)
                return False
            if "dryRun" in query:
                raise ApiError(400, "BadRequest", "dryRun is not supported by the fake API server")
            code, document = self._operate(method, resource, namespace, name, subresource, query, headers, body)
        except ApiError as exc:
            code, document = exc.code, status_body(exc.code, exc.reason, exc.message)
        except Exception as exc:  # a bug of the fake: answer 500 naming it rather than hang the client
            code, document = 500, status_body(500, "InternalError", f"fake API server: {exc!r}")
        self._respond(writer, code, document)
        await writer.drain()
        return True

    def _group_versions(self) -> dict[str, list[Resource]]:
        groups: dict[str, list[Resource]] = {}
        for resource in ALL_RESOURCES:
            if resource.group == "traefik.io" and not self.crds:
                continue
            groups.setdefault(resource.api_version, []).append(resource)
        return groups

    def _discovery(self, path: list[str]) -> Obj | None:
        groups = self._group_versions()
        if path == ["version"]:
            return {"major": "1", "minor": "32", "gitVersion": "v1.32.0-hanzo-fake", "platform": "linux/amd64"}
        if path == ["api"]:
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.host}:{self.port}"}
                ],
            }
        if path == ["apis"]:
            named = sorted({gv.split("/")[0]: gv for gv in groups if "/" in gv}.items())
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": group,
                        "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                        "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]},
                    }
                    for group, gv in named
                ],
            }
        if len(path) == 2 and path[0] == "apis" and path[1] in {gv.split("/")[0] for gv in groups}:
            gv = next(gv for gv in groups if gv.split("/")[0] == path[1])
            version = {"groupVersion": gv, "version": gv.split("/")[1]}
            return {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": path[1],
                "versions": [version],
                "preferredVersion": version,
            }
        gv = "v1" if path == ["api", "v1"] else "/".join(path[1:]) if len(path) == 3 and path[0] == "apis" else None
        if gv is None or gv not in groups:
            return None
        resources = []
        for resource in groups[gv]:
            verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
            resources.append(
                {
                    "name": resource.plural,
                    "singularName": resource.kind.lower(),
                    "namespaced": resource.namespaced,
                    "kind": resource.kind,
                    "verbs": verbs,
                    "shortNames": SHORT_NAMES.get(resource.plural, []),
                }
            )
            if resource in WITH_STATUS:
                resources.append(
                    {
                        "name": f"{resource.plural}/status",
                        "singularName": "",
                        "namespaced": resource.namespaced,
                        "kind": resource.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}

    def _route(self, path: list[str]) -> tuple[Resource, str, str | None, str | None]:
        if path[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", path[2:]
        elif len(path) >= 3 and path[0] == "apis":
            group, version, rest = path[1], path[2], path[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        elif len(rest) == 2 and rest[0] == "namespaces" and group == "":
            return NAMESPACES, "", rest[1], None
        if not rest or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        for resource in ALL_RESOURCES:
            if (resource.group, resource.version, resource.plural) == (group, version, rest[0]):
                if resource.group == "traefik.io" and not self.crds:
                    break
                if namespace and not resource.namespaced:
                    break
                subresource = rest[2] if len(rest) == 3 else None
                if subresource is not None and (subresource != "status" or resource not in WITH_STATUS):
                    break
                return resource, namespace, rest[1] if len(rest) >= 2 else None, subresource
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _selectors(self, query: dict[str, str]) -> tuple[LabelSelector, FieldSelector]:
        try:
            labels = parse_selector(query.get("labelSelector", ""))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {exc}") from None
        return labels, FieldSelector.parse(query.get("fieldSelector", ""))

    def _operate(
        self,
        method: str,
        resource: Resource,
        namespace: str,
        name: str | None,
        subresource: str | None,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, Obj]:
        if name is None:
            if method == "GET":
                self._list_calls[(str(resource), namespace)] += 1
                labels, fields = self._selectors(query)
                items = []
                for (ns, _), obj in sorted(self._store[resource].items()):
                    if namespace and ns != namespace:
                        continue
                    if labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj):
                        if resource.group != "traefik.io":
                            # Typed lists of built-in kinds carry no kind/apiVersion on their items. A shallow
                            # copy is enough: the answer is serialised before anything can change the store.
                            obj = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
                        items.append(obj)
                return 200, {
                    "kind": f"{resource.kind}List",
                    "apiVersion": resource.api_version,
                    "metadata": {"resourceVersion": str(self._rv)},
                    "items": items,
                }
            if method == "POST":
                obj = self._decode(body)
                if resource.namespaced and not namespace:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                return 201, self._create(resource, namespace, obj)
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        key = (namespace, name)
        if method == "GET":
            found = self._store[resource].get(key)
            if found is None:
                raise ApiError(404, "NotFound", self._not_found(resource, name))
            return 200, found  # serialised at once, before the store can change
        if method == "PUT":
            return 200, self._replace(
                resource, namespace, name, self._decode(body), status_only=subresource == "status"
            )
        if method == "PATCH":
            current = self._store[resource].get(key)
            if current is None:
                raise ApiError(404, "NotFound", self._not_found(resource, name))
            patch = self._decode(body)
            content_type = headers.get("content-type", "").split(";")[0].strip()
            if content_type == "application/merge-patch+json":
                patched = merge_patch(current, patch)
            elif content_type == "application/strategic-merge-patch+json":
                if resource.group == "traefik.io":
                    raise ApiError(
                        415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources"
                    )
                patched = strategic_merge_patch(current, patch)
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"application/merge-patch+json, application/strategic-merge-patch+json (got {content_type})",
                )
            if not (patch.get("metadata") or {}).get("resourceVersion"):
                patched.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
            return 200, self._replace(resource, namespace, name, patched, status_only=subresource == "status")
        if method == "DELETE":
            return 200, self._delete(resource, namespace, name)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _decode(self, body: bytes) -> Obj:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ApiError(400, "BadRequest", "the request body is not JSON") from None
        if not isinstance(document, dict):
            raise ApiError(400, "BadRequest", "the request body is not a JSON object")
        return document

    async def _watch(
        self, writer: asyncio.StreamWriter, resource: Resource, namespace: str, query: dict[str, str]
    ) -> None:
        labels, fields = self._selectors(query)
        watch = Watch(resource, namespace, labels, fields, query.get("allowWatchBookmarks") in ("true", "1"), writer)
        rv_text = query.get("resourceVersion", "")
        initial: list[tuple[str, Obj]] = []
        expired: str | None = None
        if rv_text in ("", "0"):
            initial = [("ADDED", obj) for obj in self._store[resource].values() if watch.visible(obj)]
        else:
            try:
                since = int(rv_text)
            except ValueError:
                raise ApiError(400, "BadRequest", f'invalid resource version: "{rv_text}"') from None
            if since < self._compacted:
                expired = f"too old resource version: {since} ({self._compacted})"
            else:
                for change in self._history:
                    if change.rv > since and (event := watch.event_for(change)) is not None:
                        initial.append(event)
        # Registered before the first await: no change can slip between the replay and the live events.
        if expired is None:
            self._watches.add(watch)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            b"Cache-Control: no-cache, private\r\n\r\n"
        )

        def send(kind: str, obj: Obj) -> None:
            line = orjson.dumps({"type": kind, "object": obj}) + b"\n"
            step = self.watch_chunk_size or len(line)
            for start in range(0, len(line), step):
                piece = line[start : start + step]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))

        try:
            if expired is not None:
                send("ERROR", status_body(410, "Expired", expired))
                writer.write(b"0\r\n\r\n")
                await writer.drain()
                return
            for kind, obj in initial:
                send(kind, obj)
            await writer.drain()
            timeout = int(query.get("timeoutSeconds") or 0)
            deadline = (asyncio.get_running_loop().time() + timeout) if timeout > 0 else None
            while True:
                wait = self.bookmark_interval if watch.bookmarks else None
                if deadline is not None:
                    left = deadline - asyncio.get_running_loop().time()
                    if left <= 0:
                        break
                    wait = min(wait, left) if wait is not None else left
                try:
                    change = await asyncio.wait_for(watch.queue.get(), wait)
                except TimeoutError:
                    if deadline is not None and asyncio.get_running_loop().time() >= deadline:
                        break
                    change = Change(self._rv, resource, "BOOKMARK", None, None)
                if change is None:
                    return  # cut: the connection is already aborted
                if change.type == "END":
                    break  # ended as on timeoutSeconds
                if change.type == "BOOKMARK":
                    if watch.bookmarks:
                        send(
                            "BOOKMARK",
                            {
                                "kind": resource.kind,
                                "apiVersion": resource.api_version,
                                "metadata": {"resourceVersion": str(change.rv)},
                            },
                        )
                elif (event := watch.event_for(change)) is not None:
                    send(*event)
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, OSError):
            return
        finally:
            self._watches.discard(watch)


def main(argv: list[str] | None = None) -> None:
    """Run the fake API server by hand: ``python tests/kube_apiserver.py --kubeconfig /tmp/kc manifest.yaml``.

    It loads the manifests (multi-document YAML), writes a kubeconfig pointing at itself when asked, prints its
    URL, and serves until interrupted, so ``ingress`` or ``kubectl`` can be tried without a cluster.
    """
    import argparse
    import signal

    import yaml

    parser = argparse.ArgumentParser(description="A fake Kubernetes API server (tests only; not a Kubernetes).")
    parser.add_argument("manifests", nargs="*", help="YAML files whose objects are created at start")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA (in the kubeconfig)")
    parser.add_argument("--token", default=None, help="require this bearer token")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-crds", action="store_true", help="serve no traefik.io group (CRDs not installed)")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for this server to this path")
    args = parser.parse_args(argv)
    server = FakeApiServer(tls=args.tls, token=args.token, port=args.port, crds=not args.no_crds).start()
    try:
        for path in args.manifests:
            with open(path, encoding="utf-8") as handle:
                for document in yaml.safe_load_all(handle):
                    if document:
                        server.apply(document)
        if args.kubeconfig:
            server.write_kubeconfig(args.kubeconfig)
        print(f"fake API server on {server.url}" + (f", kubeconfig {args.kubeconfig}" if args.kubeconfig else ""))
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
