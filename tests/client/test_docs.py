"""docs/client.md is current: its API reference is the docstrings, its bot is
clients/examples/bot.py, and every public name of the client is documented."""

from __future__ import annotations

import inspect

from clients import apidoc
from clients import livebridge_client as lb


def test_docs_client_md_is_generated_from_the_current_docstrings_and_bot():
    assert apidoc.DOC.read_text(encoding="utf-8") == apidoc.render(apidoc.DOC.read_text(encoding="utf-8")), \
        "docs/client.md is out of date: run .venv/bin/python -m clients.apidoc"


def test_every_public_member_has_a_docstring_and_is_in_the_reference():
    public = {name for name in dir(lb.LiveBridgeClient) if not name.startswith("_")}
    assert public == set(apidoc.CLIENT_MEMBERS)
    for name in public:
        assert inspect.getdoc(inspect.getattr_static(lb.LiveBridgeClient, name)), name
    for name in lb.__all__:
        obj = getattr(lb, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name
