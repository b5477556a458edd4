"""The LiveBridge Python client, as the server's tree and its tests import it.

The client is the package :mod:`clients.livebridge_client` (installed on its own, from
``clients/pyproject.toml``, as ``livebridge_client``); this module re-exports its public names so
that ``from clients.client import LiveBridgeClient, ServerError`` keeps working. docs/client.md
is the guide and API reference.
"""

from clients.livebridge_client import *  # noqa: F401,F403
from clients.livebridge_client import __all__ as _client_names
from clients.livebridge_client.tokens import http_base  # noqa: F401

__all__ = list(_client_names)
