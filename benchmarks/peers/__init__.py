"""Peer servers the fan-out benchmark runs beside LiveBridge, each a few dozen lines.

- :mod:`benchmarks.peers.raw_ws`: a bare ``websockets`` broadcast server, the ceiling for
  Python: no auth, no protocol, no history; every text frame a client sends goes to every
  connection in its room with ``websockets.broadcast``.
- :mod:`benchmarks.peers.sio`: python-socketio on uvicorn with ``AsyncRedisManager``, what a
  Python user would pick for rooms over several nodes.

Both speak just enough to be driven by the same load generator (see
:mod:`benchmarks.adapters`). Each runs as ``python -m benchmarks.peers.<name> --port P``.
"""
