"""The gateway sub-commands' flag splitting and the two parsers built on it."""

from __future__ import annotations

import pytest

from hanzo_edge.commands.flag_values import MissingFlagValue, split_flags
from hanzo_edge.commands.gateway_check import GatewayArgs, parse_gateway_args
from hanzo_edge.commands.gateway_ingress import SidecarArgs, parse_sidecar_args


def test_split_flags_takes_the_next_argument_or_the_inline_value() -> None:
    got = list(split_flags(["-c", "a.json", "--port=8080", "-d", "-x=1", "-c="], ("-c", "--port")))
    assert got == [("-c", "a.json"), ("--port", "8080"), ("-d", None), ("-x=1", None), ("-c", "")]


def test_split_flags_names_a_trailing_flag_without_value() -> None:
    with pytest.raises(MissingFlagValue) as caught:
        list(split_flags(["-d", "--config"], ("-c", "--config")))
    assert caught.value.flag == "--config"


def test_gateway_args_parse_and_refuse() -> None:
    assert parse_gateway_args(["-c", "g.json", "-p=9000", "-dd", "--lint"]) == GatewayArgs("g.json", 9000, True)
    assert str(parse_gateway_args(["-c"])).startswith("flag needs an argument: -c\n")
    assert str(parse_gateway_args(["-c", "g.json", "-p", "x"])).startswith("invalid port 'x'\n")
    assert str(parse_gateway_args(["-c", "g.json", "--what"])).startswith("unknown flag '--what'\n")


def test_sidecar_args_parse_and_refuse() -> None:
    assert parse_sidecar_args(["check", "-c=i.json", "--listen", ":8080", "-d"]) == SidecarArgs(
        "i.json", ":8080", True, True
    )
    assert str(parse_sidecar_args(["-c", "i.json", "-l"])).startswith("flag needs an argument: -l\n")
    assert str(parse_sidecar_args(["-c", "i.json", "-x"])).startswith("unknown argument '-x'\n")
    assert str(parse_sidecar_args([])).startswith("missing -c ingress.json\n")
