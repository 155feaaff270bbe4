"""Go text/template + sprig subset: outputs are what Go 1.24 with sprig v3 prints for the same template and data."""

from __future__ import annotations

from pathlib import Path

import pytest

from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.gotemplate import (
    StringMap,
    TemplateError,
    parse_template,
    read_template_file,
    render_template,
)
from hanzo_edge.providers.file import load_file_snapshot

DATA = {
    "Name": "my_app-1",
    "ContainerName": "web",
    "Labels": StringMap({"domain": "example.com", "tier": "front"}),
    "Items": ["a", "b", "c"],
    "Map": {"z": 1, "a": 2},
    "Zero": 0,
    "Empty": "",
    "Nested": {"Inner": {"Value": "deep"}},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Host(`{{ normalize .Name }}`)", "Host(`my-app-1`)"),
        ("{{ .Nested.Inner.Value }}", "deep"),
        ("{{ .Labels.domain }}|{{ .Labels.missing }}|{{ .Map.missing }}", "example.com||<no value>"),
        ("{{ index .Labels `tier` }} {{ index .Items 1 }} {{ index .Map `a` }}", "front b 2"),
        ("{{ .ContainerName | upper | printf `%s!` }}", "WEB!"),
        ("{{ if .Zero }}yes{{ else if .Empty }}empty{{ else }}no{{ end }}", "no"),
        ("{{ if and .Name (not .Zero) }}ok{{ end }}", "ok"),
        ("{{ or .Zero .Empty `fallback` }}", "fallback"),
        ("{{ with .Nested.Inner }}{{ .Value }}{{ end }}{{ with .Zero }}x{{ else }}none{{ end }}", "deepnone"),
        ("{{ range $i, $v := .Items }}{{ $i }}={{ $v }};{{ end }}", "0=a;1=b;2=c;"),
        ("{{ range $k, $v := .Map }}{{ $k }}{{ $v }}{{ end }}", "a2z1"),  # maps in key order
        ("{{ range .Missing }}x{{ else }}nothing{{ end }}", "nothing"),
        ("{{ range until 5 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}", "012"),
        ("{{ range 3 }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ . }}{{ end }}", "02"),
        ("{{ $x := `a` }}{{ $x = `b` }}{{ $x }}", "b"),
        ("{{ $.ContainerName }}", "web"),
        ("a  {{- ` b ` -}}  c", "a b c"),
        ("x\n{{- /* a comment */ -}}\ny", "xy"),
        (
            "{{ printf `%d-%s-%q-%v-%5s|%-3d|%x|%t` 7 `s` `q` .Items `r` 4 255 true }}",
            '7-s-"q"-[a b c]-    r|4  |ff|true',
        ),
        ("{{ printf `%s` }} {{ printf `%d` `x` }}", "%!s(MISSING) %!d(string=x)"),
        ("{{ printf `%v %v %v` 1.5 1e6 100000.0 }}", "1.5 1e+06 100000"),
        ("{{ default `d` .Empty }} {{ default `d` .Name }} {{ .Empty | default `p` }}", "d my_app-1 p"),
        ('{{ env "HANZO_GOTEMPLATE_TEST" }}', "from-env"),
        ("{{ lower `AbC` }} {{ trim `  x  ` }} {{ replace `-` `.` `a-b-c` }}", "abc x a.b.c"),
        ("{{ (split `.` `a.b.c`)._1 }} {{ splitList `,` `x,y` }}", "b [x y]"),
        ("{{ list 1 `a` true }} {{ dict `k` `v` `n` 2 }}", "[1 a true] map[k:v n:2]"),
        ('{{ quote `a"b` 1 }}', '"a\\"b" "1"'),
        ("{{ len .Items }} {{ len `héllo` }}", "3 6"),  # len counts bytes, as Go
        ("{{ eq .ContainerName `api` `web` }} {{ lt 1 2 }} {{ ne `a` `b` }}", "true true true"),
        ("{{ trimPrefix `/` `/web` }} {{ hasSuffix `.com` .Labels.domain }} {{ join `-` .Items }}", "web true a-b-c"),
        ('{{ "\\u00e9\\x41\\n" }}', "éA\n"),
        ("{{ 0x1F }} {{ 1_000 }} {{ -2.5 }} {{ nil }}", "31 1000 -2.5 <no value>"),
        ("{{ (index .Items 0) }}{{ (dict `a` (dict `b` `nested`)).a.b }}", "anested"),
        ("no actions at all { } }}", "no actions at all { } }}"),
    ],
)
def test_render(template: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANZO_GOTEMPLATE_TEST", "from-env")
    assert render_template(template, DATA, name="t") == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ foo }}", 'template: t:1: function "foo" not defined'),
        ("line1\nline2 {{ sprigOnly 1 }}", 'template: t:2: function "sprigOnly" not defined'),
        ("a\n\n{{ if 1 }}", "template: t:3: unexpected EOF (unclosed {{if}})"),
        ("{{ end }}", "template: t:1: unexpected {{end}}"),
        ("{{ template `x` }}", "template: t:1: {{template}} is not supported (no define/template/block)"),
        ('{{ define "x" }}y{{ end }}', "template: t:1: {{define}} is not supported (no define/template/block)"),
        ("{{ .A", "template: t:1: unclosed action"),
        ("{{ (1 }}", "template: t:1: unclosed left paren"),
        ("{{ break }}", "template: t:1: {{break}} outside {{range}}"),
        ("{{ $undefined }}", "template: t:1: undefined variable: $undefined"),
        ("{{ 'c' }}", "template: t:1: character constants are not supported: 'c'"),
        ("{{ }}", "template: t:1: missing value for command"),
        ('{{ "\\q" }}', 'template: t:1: invalid syntax: "\\q"'),
        ("{{/* open", "template: t:1: unclosed comment"),
    ],
)
def test_parse_errors_name_the_line(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_template(template, DATA, name="t")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "x\n{{ .Zero.Field }}",
            'template: t:2: executing "t" at <.Zero.Field>: can\'t evaluate field Field in type int',
        ),
        (
            "{{ .Missing.Field }}",
            'template: t:1: executing "t" at <.Missing.Field>: nil pointer evaluating interface {}.Field',
        ),
        ("{{ index .Items 9 }}", 'template: t:1: executing "t" at <index>: error calling index: index out of range: 9'),
        ("{{ eq 1 `a` }}", 'template: t:1: executing "t" at <eq>: error calling eq: incompatible types for comparison'),
        (
            "{{ until 1000000 }}",
            'template: t:1: executing "t" at <until>: error calling until: until 1000000: more than 100000 items',
        ),
        ("{{ `a` 1 }}", 'template: t:1: executing "t" at <"a">: can\'t give argument to non-function "a"'),
        ("{{ range `abc` }}{{ end }}", 'template: t:1: executing "t" at <range>: range can\'t iterate over abc'),
        ("{{ lower }}", 'template: t:1: executing "t" at <lower>: wrong number of args for lower: got 0'),
    ],
)
def test_execution_errors_name_the_line(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(template, "t").render(DATA)
    assert str(caught.value) == message


def test_a_parsed_template_renders_many_times_without_state() -> None:
    template = parse_template("{{ $n := .Name }}{{ $n }}", "t")
    assert [template.render({"Name": n}) for n in ("a", "b")] == ["a", "b"]


def test_file_provider_renders_dynamic_files_as_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANZO_BACKEND", "http://127.0.0.1:9")
    dynamic = tmp_path / "dynamic.yml"
    dynamic.write_text(
        "http:\n"
        "  routers:\n"
        "{{- range $i, $name := list `alpha` `beta` }}\n"
        "    r-{{ $name }}:\n"
        "      rule: Host(`{{ $name }}.test`)\n"
        "      service: app\n"
        "      priority: {{ $i }}\n"
        "{{- end }}\n"
        "  services:\n"
        "    app:\n"
        "      loadBalancer:\n"
        '        servers:\n          - url: {{ env "HANZO_BACKEND" | quote }}\n'
    )
    config, warnings = load_file_snapshot(str(dynamic))
    assert warnings == []
    assert sorted(config.http.routers) == ["r-alpha", "r-beta"]
    assert config.http.routers["r-beta"].rule == "Host(`beta.test`)"
    assert config.http.routers["r-beta"].priority == 1
    lb = config.http.services["app"].load_balancer
    assert lb is not None
    assert lb.servers[0].url == "http://127.0.0.1:9"


def test_a_file_template_error_is_located_in_the_file(tmp_path: Path) -> None:
    dynamic = tmp_path / "dynamic.toml"
    dynamic.write_text('[http.routers.r]\nrule = "{{ nosuch }}"\n')
    with pytest.raises(ConfigError) as caught:
        load_file_snapshot(str(dynamic))
    assert str(caught.value) == f'{dynamic}:2: template: function "nosuch" not defined'


def test_a_file_without_actions_is_returned_as_read(tmp_path: Path) -> None:
    text = "http:\n  routers: {}\n# braces { } and a lone }} stay\n"
    path = tmp_path / "plain.yml"
    path.write_text(text)
    assert read_template_file(str(path)) == text
