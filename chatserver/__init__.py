"""The LiveBridge server: HTTP API, WebSocket sessions, auth, config, CLI and metrics.

The only package that knows every other one; nothing imports it.
"""

__version__ = "0.1.0"
