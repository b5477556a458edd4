"""Which uvicorn HTTP protocol a node runs (``--http-parser``), and the guard over each."""

from __future__ import annotations

import sys

import pytest
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chatserver import config
from chatserver.config import Settings, SettingsError
from chatserver.connguard import ConnectionGate, guarded_http_protocol, http_protocol_base
from chatserver.server import serve, uvicorn_config
from tests.harness import http_parsers


def gate() -> ConnectionGate:
    return ConnectionGate(max_connections=10, max_per_address=10)


def test_auto_is_uvicorns_rule_httptools_when_installed_else_h11():
    assert http_protocol_base("auto") is HttpToolsProtocol  # a dependency: always installed
    assert http_protocol_base("httptools") is HttpToolsProtocol
    assert http_protocol_base("h11") is H11Protocol


def test_auto_falls_back_to_h11_and_httptools_alone_fails_without_it(monkeypatch):
    for name in ("httptools", "uvicorn.protocols.http.httptools_impl"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    assert http_protocol_base("auto") is H11Protocol
    with pytest.raises(ImportError):
        http_protocol_base("httptools")
    with pytest.raises(SettingsError, match="httptools is not installed"):
        uvicorn_config(Settings(http_parser="httptools", store=False))


def test_serve_refuses_a_missing_parser_before_it_makes_anything(monkeypatch, tmp_path):
    for name in ("httptools", "uvicorn.protocols.http.httptools_impl"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(SettingsError, match="httptools is not installed"):
        serve(Settings(http_parser="httptools", data_dir=str(tmp_path / "data")))
    assert not (tmp_path / "data").exists()  # no token secret, no store


def test_an_unknown_parser_is_refused():
    with pytest.raises(ValueError):
        http_protocol_base("picohttp")
    with pytest.raises(SettingsError, match="--http-parser"):
        config.load(None, {"LIVEBRIDGE_HTTP_PARSER": "picohttp"})


@pytest.mark.parametrize("parser", http_parsers())
def test_the_guard_subclasses_the_chosen_protocol(parser):
    protocol = guarded_http_protocol(gate(), 1.0, parser)
    assert issubclass(protocol, http_protocol_base(parser))
    assert protocol.__name__ == f"Guarded{http_protocol_base(parser).__name__}"
