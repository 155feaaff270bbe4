"""File-provider dynamic files are Go templates, rendered before parsing, through the real ``ingress`` CLI: a
router per `range` item, the backend from `env`; a template error names the file and line; an edit re-renders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge_backend import Backend
from edge_harness import Ingress, eventually, free_port, http_request

BackendFactory = Callable[..., Backend]
IngressFactory = Callable[..., Ingress]

TEMPLATE = """\
http:
  routers:
{{- range $i, $name := list "alpha" "beta" }}
    r-{{ $name }}:
      rule: Host(`{{ $name }}.{{ env "HANZO_TEMPLATE_DOMAIN" | default "test" }}`)
      service: app
{{- end }}
  services:
    app:
      loadBalancer:
        servers:
          - url: {{ env "HANZO_TEMPLATE_BACKEND" | quote }}
"""


def test_a_templated_dynamic_file_routes_and_a_broken_one_names_its_line(
    tmp_path: Path, backend: BackendFactory, ingress: IngressFactory
) -> None:
    app = backend("app")
    dynamic = tmp_path / "dynamic.yml"
    dynamic.write_text(TEMPLATE)
    port = free_port()
    proc = ingress(
        args=[f"--entrypoints.web.address=127.0.0.1:{port}", f"--providers.file.filename={dynamic}"],
        port=port,
        env={"HANZO_TEMPLATE_BACKEND": app.url, "HANZO_TEMPLATE_DOMAIN": "example"},
    )
    for host in ("alpha.example", "beta.example"):
        assert http_request(port, path="/echo", headers={"Host": host}).status == 200
    assert http_request(port, headers={"Host": "alpha.test"}).status == 404

    dynamic.write_text(TEMPLATE.replace('list "alpha" "beta"', 'list "gamma"'))
    eventually(lambda: http_request(port, path="/echo", headers={"Host": "gamma.example"}).status == 200)
    assert http_request(port, headers={"Host": "alpha.example"}).status == 404

    dynamic.write_text(TEMPLATE.replace("| quote", "| b64enc"))  # a sprig function outside the subset
    eventually(lambda: f'{dynamic}:12: template: function "b64enc" not defined' in proc.stderr(), message=proc.describe)
    assert http_request(port, path="/echo", headers={"Host": "gamma.example"}).status == 200  # last good kept
