from __future__ import annotations

import pathlib
import textwrap

import pytest

from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.loader import find_config_file, load_static, load_static_file, render_help
from hanzo_edge.config.static import EntryPoint, StaticConfig
from hanzo_edge.config.types import FrozenDict

FLAGS = [
    "--entryPoints.web.address=:8080",
    "--entrypoints.web.transport.respondingTimeouts.idleTimeout=90s",
    "--entrypoints.web.transport.lifeCycle.graceTimeOut=5",
    "--entrypoints.web.forwardedHeaders.trustedIPs=10.0.0.0/8,127.0.0.1",
    "--entrypoints.web.http.middlewares=auth@file,strip@kubernetescrd",
    "--entrypoints.web.http.redirections.entryPoint.to=websecure",
    "--entrypoints.websecure.address=:8443",
    "--entrypoints.websecure.http.tls",
    "--ping.entryPoint=web",
    "--metrics.prometheus.entryPoint=web",
    "--metrics.prometheus.headerLabels.useragent=User-Agent",
    "--metrics.prometheus.buckets=0.1,0.5,1",
    "--providers.file.directory=/etc/hanzo/dynamic",
    "--log.level=debug",
    "--accesslog",
]

ENV = {
    "TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": ":8080",
    "TRAEFIK_ENTRYPOINTS_WEB_TRANSPORT_RESPONDINGTIMEOUTS_IDLETIMEOUT": "90s",
    "TRAEFIK_ENTRYPOINTS_WEB_TRANSPORT_LIFECYCLE_GRACETIMEOUT": "5",
    "TRAEFIK_ENTRYPOINTS_WEB_FORWARDEDHEADERS_TRUSTEDIPS": "10.0.0.0/8,127.0.0.1",
    "TRAEFIK_ENTRYPOINTS_WEB_HTTP_MIDDLEWARES": "auth@file,strip@kubernetescrd",
    "TRAEFIK_ENTRYPOINTS_WEB_HTTP_REDIRECTIONS_ENTRYPOINT_TO": "websecure",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_ADDRESS": ":8443",
    "TRAEFIK_ENTRYPOINTS_WEBSECURE_HTTP_TLS": "true",
    "TRAEFIK_PING_ENTRYPOINT": "web",
    "TRAEFIK_METRICS_PROMETHEUS_ENTRYPOINT": "web",
    "TRAEFIK_METRICS_PROMETHEUS_HEADERLABELS_USERAGENT": "User-Agent",
    "TRAEFIK_METRICS_PROMETHEUS_BUCKETS": "0.1,0.5,1",
    "TRAEFIK_PROVIDERS_FILE_DIRECTORY": "/etc/hanzo/dynamic",
    "HANZO_INGRESS_LOG_LEVEL": "debug",
    "HANZO_INGRESS_ACCESSLOG": "true",
    "TRAEFIK_PORT": "tcp://10.0.0.1:80",  # a Kubernetes service link: ignored, as in Traefik
}

YAML = """
entryPoints:
  web:
    address: ":8080"
    transport:
      respondingTimeouts: {idleTimeout: 90s}
      lifeCycle: {graceTimeOut: 5}
    forwardedHeaders:
      trustedIPs: ["10.0.0.0/8", "127.0.0.1"]
    http:
      middlewares: [auth@file, strip@kubernetescrd]
      redirections:
        entryPoint: {to: websecure}
  websecure:
    address: ":8443"
    http:
      tls: {}
ping: {entryPoint: web}
metrics:
  prometheus:
    entryPoint: web
    headerLabels: {useragent: User-Agent}
    buckets: [0.1, 0.5, 1]
providers:
  file: {directory: /etc/hanzo/dynamic}
log: {level: DEBUG}
accessLog: {}
"""

TOML = """
[entryPoints.web]
address = ":8080"
[entryPoints.web.transport.respondingTimeouts]
idleTimeout = "90s"
[entryPoints.web.transport.lifeCycle]
graceTimeOut = 5
[entryPoints.web.forwardedHeaders]
trustedIPs = ["10.0.0.0/8", "127.0.0.1"]
[entryPoints.web.http]
middlewares = ["auth@file", "strip@kubernetescrd"]
[entryPoints.web.http.redirections.entryPoint]
to = "websecure"
[entryPoints.websecure]
address = ":8443"
[entryPoints.websecure.http.tls]
[ping]
entryPoint = "web"
[metrics.prometheus]
entryPoint = "web"
buckets = [0.1, 0.5, 1]
[metrics.prometheus.headerLabels]
useragent = "User-Agent"
[providers.file]
directory = "/etc/hanzo/dynamic"
[log]
level = "DEBUG"
[accessLog]
"""


def _load_flags(*argv: str) -> StaticConfig:
    return load_static(list(argv), {}, search=False)


def _check_expected(config: StaticConfig) -> None:
    web = config.entry_points["web"]
    assert web.address == ":8080"
    assert web.transport.responding_timeouts.idle_timeout == 90.0
    assert web.transport.responding_timeouts.read_timeout == 60.0
    assert web.transport.life_cycle.grace_time_out == 5.0
    assert web.forwarded_headers.trusted_ips == ("10.0.0.0/8", "127.0.0.1")
    assert web.http.middlewares == ("auth@file", "strip@kubernetescrd")
    assert web.http.redirections is not None
    assert web.http.redirections.entry_point is not None
    assert web.http.redirections.entry_point.to == "websecure"
    assert web.http.redirections.entry_point.permanent is True
    assert config.entry_points["websecure"].http.tls is not None
    assert web.http.tls is None
    assert config.ping is not None
    assert config.ping.entry_point == "web"
    assert config.metrics is not None
    assert config.metrics.prometheus is not None
    assert config.metrics.prometheus.header_labels == {"useragent": "User-Agent"}
    assert config.metrics.prometheus.buckets == (0.1, 0.5, 1.0)
    assert config.providers.file is not None
    assert config.providers.file.directory == "/etc/hanzo/dynamic"
    assert config.providers.file.watch is True
    assert config.log.level == "DEBUG"
    assert config.access_log is not None
    assert config.access_log.format == "common"
    assert set(config.entry_points) == {"web", "websecure"}  # ping/metrics moved off "traefik": no :8080 internal EP


def test_flags_env_yaml_and_toml_give_identical_config(tmp_path: pathlib.Path) -> None:
    from_flags = _load_flags(*FLAGS)
    from_env = load_static([], ENV, search=False)
    yaml_file = tmp_path / "traefik.yml"
    yaml_file.write_text(YAML)
    toml_file = tmp_path / "traefik.toml"
    toml_file.write_text(TOML)
    from_yaml = load_static([f"--configFile={yaml_file}"], {}, search=False)
    from_toml = load_static(["--configfile", str(toml_file)], {}, search=False)
    _check_expected(from_flags)
    assert from_flags == from_env == from_yaml == from_toml
    assert hash(from_flags) == hash(from_yaml)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--entryPoints.web.address=:81"], id="camelCase"),
        pytest.param(["--entrypoints.web.address=:81"], id="lower case"),
        pytest.param(["--ENTRYPOINTS.web.ADDRESS=:81"], id="upper case"),
        pytest.param(["-entrypoints.web.address", ":81"], id="single dash and separate value"),
    ],
)
def test_flag_segments_are_case_insensitive(argv: list[str]) -> None:
    assert _load_flags(*argv).entry_points == {"web": EntryPoint(address=":81")}


def test_flag_map_keys_keep_their_case() -> None:
    config = _load_flags("--entrypoints.WebSecure.address=:443")
    assert list(config.entry_points) == ["WebSecure"]


def test_flag_string_map_keys_may_contain_dots() -> None:
    config = _load_flags(
        "--tracing.resourceAttributes.deployment.environment=prod",
        "--tracing.resourceAttributes.team=edge",
        "--tracing.otlp.grpc.headers.x-scope.org=acme",
    )
    assert config.tracing is not None
    assert config.tracing.resource_attributes == {"deployment.environment": "prod", "team": "edge"}
    assert config.tracing.otlp is not None
    assert config.tracing.otlp.grpc is not None
    assert config.tracing.otlp.grpc.headers == {"x-scope.org": "acme"}


def test_env_map_keys_are_lowercased_and_may_contain_underscores() -> None:
    config = load_static([], {"TRAEFIK_ENTRYPOINTS_MY_EP_ADDRESS": ":81", "traefik_ping": "true"}, search=False)
    assert set(config.entry_points) == {"my_ep", "traefik"}
    assert config.ping is not None


def test_file_keys_are_case_insensitive(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "static.yaml"
    path.write_text("ENTRYPOINTS:\n  web:\n    Address: ':81'\n    HTTP: {SanitizePath: false}\n")
    config = load_static_file(str(path))
    assert config.entry_points["web"].address == ":81"
    assert config.entry_points["web"].http.sanitize_path is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--entrypoints.web.adress=:80"], "--entrypoints.web.adress: unknown option", id="unknown flag"),
        pytest.param(["--nope"], "--nope: unknown option", id="unknown top-level flag"),
        pytest.param(
            ["--entrypoints.web.address=:80", "--entrypoints.web.transport.respondingTimeouts.idleTimeout=abc"],
            '--entrypoints.web.transport.respondingTimeouts.idleTimeout: invalid duration "abc"',
            id="bad duration",
        ),
        pytest.param(
            ["--entrypoints.web.address=foo"], '--entrypoints.web.address: invalid address "foo"', id="bad address"
        ),
        pytest.param(
            ["--entrypoints.web.address=:80/sctp"],
            '--entrypoints.web.address: invalid address ":80/sctp": unknown protocol "sctp"',
            id="unknown protocol",
        ),
        pytest.param(
            ["--entrypoints.web.http.tls"],
            "--entrypoints.web.address: missing required option",
            id="entry point without address",
        ),
        pytest.param(["--ping.entryPoint"], "--ping.entryPoint: missing value", id="missing value"),
        pytest.param(["--ping=maybe"], '--ping: expected a section, got string "maybe"', id="bad section value"),
        pytest.param(["--api.insecure=yes please"], '--api.insecure: invalid boolean "yes please"', id="bad bool"),
        pytest.param(["--workers=two"], '--workers: invalid integer "two"', id="bad int"),
        pytest.param(
            ["--log.level=verbose"],
            '--log.level: invalid value "verbose" (expected one of: TRACE, DEBUG, INFO, WARN, ERROR, FATAL, PANIC)',
            id="bad choice",
        ),
        pytest.param(["web"], "web: unexpected argument (options are written --name=value)", id="positional"),
        pytest.param(
            ["--configFile=x.yml", "--ping"],
            "--ping: cannot be combined with --configFile (configuration sources are exclusive)",
            id="file and flags",
        ),
    ],
)
def test_flag_errors_name_the_option(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load_flags(*argv)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"TRAEFIK_ENTRYPOINTS_WEB_ADRESS": ":80"}, "TRAEFIK_ENTRYPOINTS_WEB_ADRESS: unknown option", id="typo"
        ),
        pytest.param(
            {"TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": ":80", "HANZO_INGRESS_PROVIDERS_PROVIDERSTHROTTLEDURATION": "soon"},
            'HANZO_INGRESS_PROVIDERS_PROVIDERSTHROTTLEDURATION: invalid duration "soon"',
            id="bad value",
        ),
    ],
)
def test_env_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_static([], env, search=False)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("argv", "enabled"),
    [
        pytest.param(["--ping"], True, id="bare"),
        pytest.param(["--ping=true"], True, id="true"),
        pytest.param(["--ping=false"], False, id="false"),
        pytest.param(["--ping.terminatingStatusCode=204"], True, id="sub-key enables"),
        pytest.param(["--ping.manualRouting", "--ping"], True, id="bare after sub-key keeps sub-key"),
        pytest.param(["--api.insecure"], True, id="bare bool sub-key"),
    ],
)
def test_bare_section_flags(argv: list[str], enabled: bool) -> None:
    config = _load_flags("--entrypoints.web.address=:80", *argv)
    section = config.api if argv[0].startswith("--api") else config.ping
    assert (section is not None) is enabled


def test_bare_bool_flag_does_not_swallow_next_flag() -> None:
    config = _load_flags("--entrypoints.web.address=:80", "--entrypoints.web.reusePort", "--api")
    assert config.entry_points["web"].reuse_port is True
    assert config.api is not None
    assert config.api.dashboard is True


def test_indexed_list_flags() -> None:
    config = _load_flags(
        "--entrypoints.ws.address=:443",
        "--entrypoints.ws.http.tls.domains[0].main=example.com",
        "--entrypoints.ws.http.tls.domains[0].sans=a.example.com,b.example.com",
        "--entrypoints.ws.http.tls.domains[1].main=example.org",
    )
    tls = config.entry_points["ws"].http.tls
    assert tls is not None
    assert [d.main for d in tls.domains] == ["example.com", "example.org"]
    assert tls.domains[0].sans == ("a.example.com", "b.example.com")


def test_unimplemented_sections_are_accepted_raw() -> None:
    config = _load_flags(
        "--entrypoints.web.address=:80",
        "--providers.consul",
        "--certificatesResolvers.le.acme.email=ops@example.com",
        "--certificatesresolvers.le.acme.httpChallenge.entryPoint=web",
    )
    assert config.providers.consul == FrozenDict()
    assert config.certificates_resolvers == {
        "le": {"acme": {"email": "ops@example.com", "httpChallenge": {"entryPoint": "web"}}}
    }
    hash(config)


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        pytest.param([], {"http"}, id="no entry point gives http"),
        pytest.param(["--ping"], {"http", "traefik"}, id="ping on default entry point adds traefik"),
        pytest.param(["--metrics.prometheus"], {"http", "traefik"}, id="prometheus adds traefik"),
        pytest.param(["--api.insecure"], {"http", "traefik"}, id="insecure api adds traefik"),
        pytest.param(["--api"], {"http"}, id="secure api does not"),
        pytest.param(["--providers.rest.insecure"], {"http", "traefik"}, id="insecure rest adds traefik"),
        pytest.param(["--ping", "--ping.manualRouting"], {"http"}, id="manual routing does not"),
        pytest.param(["--entrypoints.web.address=:80", "--ping.entryPoint=web"], {"web"}, id="ping on web"),
        pytest.param(["--entrypoints.traefik.address=:9000", "--ping"], {"traefik"}, id="user-defined traefik is kept"),
    ],
)
def test_implicit_entry_points(argv: list[str], names: set[str]) -> None:
    config = _load_flags(*argv)
    assert set(config.entry_points) == names
    if "http" in names:
        assert config.entry_points["http"].address == ":80"
    if "traefik" in names and "--entrypoints.traefik.address=:9000" not in argv:
        assert config.entry_points["traefik"].address == ":8080"
    assert config.effective() is config


def test_defaults() -> None:
    config = _load_flags("--entrypoints.web.address=:80")
    web = config.entry_points["web"]
    assert web.parsed_address() == ("", 80)
    assert web.http.max_header_bytes == 16384
    assert web.http.encoded_characters.allow_encoded_slash is True
    assert web.transport.responding_timeouts.write_timeout == 0.0
    assert config.servers_transport.max_idle_conns_per_host == 200
    assert config.servers_transport.forwarding_timeouts.dial_timeout == 30.0
    assert config.providers.providers_throttle_duration == 0.5  # ours; Traefik: 2s (docs/compat.md)
    assert config.workers == 1
    assert config.ping is None
    assert config.api is None
    assert config.log.level == "ERROR"
    assert config.global_.check_new_version is True


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param(":80", ("", 80), id="all interfaces"),
        pytest.param("127.0.0.1:8080", ("127.0.0.1", 8080), id="ipv4"),
        pytest.param("[::1]:443", ("::1", 443), id="ipv6"),
        pytest.param(":80/tcp", ("", 80), id="tcp suffix"),
        pytest.param("localhost:0", ("localhost", 0), id="port zero"),
    ],
)
def test_parsed_address(address: str, expected: tuple[str, int]) -> None:
    assert EntryPoint(address=address).parsed_address() == expected


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("foo", id="no port"),
        pytest.param(":http", id="named port"),
        pytest.param(":70000", id="port out of range"),
        pytest.param("::1:80", id="ipv6 without brackets"),
        pytest.param(":80/sctp", id="unknown protocol"),
    ],
)
def test_parsed_address_rejects(address: str) -> None:
    with pytest.raises(ConfigError, match="invalid address"):
        EntryPoint(address=address).parsed_address()


def test_workers_flag_may_be_combined_with_config_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "traefik.yml"
    path.write_text("entryPoints: {web: {address: ':80'}}\n")
    config = load_static([f"--configFile={path}", "--workers=4"], {}, search=False)
    assert config.workers == 4
    assert set(config.entry_points) == {"web"}


def test_config_file_lookup_only_without_flags(tmp_path: pathlib.Path) -> None:
    (tmp_path / "traefik.yaml").write_text("entryPoints: {found: {address: ':81'}}\n")
    assert find_config_file({}, str(tmp_path)) == str(tmp_path / "traefik.yaml")
    env = {"TRAEFIK_ENTRYPOINTS_FROMENV_ADDRESS": ":82"}
    assert set(load_static([], env, cwd=str(tmp_path)).entry_points) == {"found"}
    assert set(load_static(["--entrypoints.flag.address=:83"], env, cwd=str(tmp_path)).entry_points) == {"flag"}
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    (xdg / "traefik.toml").write_text("[entryPoints.xdg]\naddress = ':84'\n")
    assert find_config_file({"XDG_CONFIG_HOME": str(xdg)}, str(tmp_path)) == str(xdg / "traefik.toml")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            "entryPoints:\n  web:\n    address: ':80'\n    adress: x\n",
            "static.yml:4: entryPoints.web.adress: unknown option",
            id="unknown key with line",
        ),
        pytest.param(
            "entryPoints:\n  web:\n    address: ':80'\n    transport:\n"
            "      respondingTimeouts:\n        idleTimeout: abc\n",
            'static.yml:6: entryPoints.web.transport.respondingTimeouts.idleTimeout: invalid duration "abc"',
            id="bad duration with line",
        ),
        pytest.param("entryPoints: [\n", "static.yml:2: invalid YAML: did not find expected node content", id="syntax"),
        pytest.param("- a\n- b\n", "static.yml:1: the static configuration must be a mapping", id="not a mapping"),
    ],
)
def test_static_file_errors_have_file_and_line(tmp_path: pathlib.Path, content: str, message: str) -> None:
    path = tmp_path / "static.yml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_static_file(str(path))
    assert str(info.value) == f"{tmp_path}/{message}"


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match=r"^/nonexistent/traefik.yml: cannot read file: No such file or directory$"):
        load_static(["--configFile=/nonexistent/traefik.yml"], {}, search=False)


def test_help_lists_every_flag_with_type_and_default() -> None:
    text = render_help()
    lines = text.splitlines()
    idle = next(line for line in lines if "--entrypoints.<name>.transport.respondingTimeouts.idleTimeout" in line)
    assert "(duration, default: 3m)" in idle
    assert "idle" in idle.lower()
    assert any(line.startswith("  --ping  (section: enabled by presence)") for line in lines)
    assert any("--entrypoints.<name>.address  (string, required)" in line for line in lines)
    assert any("--metrics.prometheus.headerLabels.<name>  (string)" in line for line in lines)
    assert any("--entrypoints.<name>.http.tls.domains[n].main" in line for line in lines)
    assert any("--workers  (int, default: 1)" in line for line in lines)
    assert any("--entrypoints.<name>.http.maxHeaderBytes  (int, default: 16384)" in line for line in lines)


def test_every_help_flag_is_accepted() -> None:
    """Each scalar flag rendered in help parses with a value of its type, so help and loader agree."""
    samples = {"string": "x", "int": "1", "float": "1.5", "bool": "true", "duration": "1s"}
    checked = 0
    failures = []
    for line in render_help().splitlines():
        if not line.startswith("  --") or "<name>..." in line or "--configFile" in line:
            continue
        flag, _, rest = line.strip().partition("  ")
        kind = rest[1:].split(",")[0].split(")")[0]
        value = samples.get(kind.removeprefix("list of "))
        if value is None:
            continue  # sections and choices
        flag = flag.replace("<name>", "ep").replace("[n]", "[0]")
        try:
            _load_flags("--entrypoints.ep.address=:80", f"{flag}={value}")
        except ConfigError as exc:
            if "invalid address" not in exc.message:
                failures.append(str(exc))
        checked += 1
    assert failures == []
    assert checked > 150


def test_config_is_frozen_and_hashable() -> None:
    config = _load_flags(*FLAGS)
    with pytest.raises(AttributeError):
        config.workers = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.entry_points["x"] = EntryPoint(address=":1")
    assert {config: 1}[_load_flags(*FLAGS)] == 1


def test_yaml_static_example_from_docs(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "traefik.yml"
    path.write_text(
        textwrap.dedent(
            """\
            global:
              checkNewVersion: false
              sendAnonymousUsage: false
            entryPoints:
              web:
                address: :80
                http:
                  redirections:
                    entryPoint:
                      to: websecure
                      scheme: https
              websecure:
                address: :443
                asDefault: true
                http:
                  tls:
                    certResolver: le
            api:
              dashboard: true
            log:
              level: INFO
            providers:
              kubernetesCRD: {}
              kubernetesIngress:
                ingressClass: hanzo-ingress
              file:
                filename: /etc/traefik/dynamic.yml
                watch: true
            """
        )
    )
    config = load_static_file(str(path))
    assert config.global_.check_new_version is False
    assert config.entry_points["websecure"].as_default is True
    tls = config.entry_points["websecure"].http.tls
    assert tls is not None
    assert tls.cert_resolver == "le"
    assert config.providers.kubernetes_crd is not None
    assert config.providers.kubernetes_ingress is not None
    assert config.providers.kubernetes_ingress.ingress_class == "hanzo-ingress"
    assert set(config.entry_points) == {"web", "websecure"}
