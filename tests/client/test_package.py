"""The client is a distribution of its own: built from clients/, installed offline into a fresh
virtualenv that has only websockets and msgpack, it imports as livebridge_client and brings no
server package along."""

from __future__ import annotations

import re

from tests.client.conftest import wheel_metadata, wheel_names


def test_the_wheel_holds_only_livebridge_client_and_needs_only_websockets_and_msgpack(installed_client):
    names = wheel_names(installed_client.wheel)
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"livebridge_client"}
    assert "livebridge_client/py.typed" in names
    requires = re.findall(r"^Requires-Dist: ([A-Za-z0-9_.-]+)", wheel_metadata(installed_client.wheel), re.M)
    assert sorted(r.lower() for r in requires) == ["msgpack", "websockets"]


def test_installed_into_a_fresh_venv_it_imports_without_any_server_package(installed_client):
    result = installed_client.run(
        "import importlib.util, json, livebridge_client as lb\n"
        "from livebridge_client import LiveBridgeClient, ServerError, types\n"
        "print(json.dumps({'file': lb.__file__, 'version': lb.__version__,\n"
        "  'others': {m: importlib.util.find_spec(m) is not None for m in\n"
        "    ('clients', 'chatserver', 'rooms', 'translator', 'moderation', 'benchmarks', 'starlette', 'jwt')}}))")
    assert result.returncode == 0, result.stderr
    import json

    found = json.loads(result.stdout)
    assert found["file"].startswith(str(installed_client.venv)), found
    assert not any(found["others"].values()), found["others"]
