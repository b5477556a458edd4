"""The named scenarios of issue 7, each one command: ``livebridge bench <scenario>``.

Each is a :class:`~benchmarks.fanout.FanoutConfig` preset; every option of
``livebridge bench fanout`` may still override it (for example ``--members 200`` for a quick
look, or ``--duration 10`` for a steadier figure).
"""

from __future__ import annotations

from benchmarks.fanout import FanoutConfig

ALL_SERVERS = ["livebridge", "raw", "socketio"]

SCENARIOS: dict[str, dict] = {
    "bigroom": dict(
        help="one big room: 1 sender to 1,000 and 5,000 members, a rate sweep per server",
        servers=ALL_SERVERS, rooms=1, members=[1000, 5000], senders=1,
        rates=[5, 10, 20, 40, 60, 80, 120, 160, 240], duration=5.0, workers=2),
    "smallrooms": dict(
        help="many small rooms: 500 rooms of 10 members, every member chatting",
        servers=ALL_SERVERS, rooms=500, members=[10], senders=10,
        rates=[0.5, 1, 2, 4, 6, 8, 12, 16], duration=5.0, workers=2),
    "storm": dict(
        help="connection storm: 10,000 connections at 1,000/s into 100 rooms, idle memory per connection",
        servers=ALL_SERVERS, rooms=100, members=[100], senders=1, rates=[1.0], duration=2.0,
        connect_rate=1000.0, idle=5.0, workers=4, connect_timeout=60.0),
    "redis2": dict(
        help="two nodes through Redis: members spread over both nodes, the sender on node 0",
        servers=["livebridge", "socketio"], nodes=2, rooms=1, members=[1000], senders=1,
        rates=[5, 10, 20, 40, 60, 80, 120], duration=5.0, workers=2),
}


def config(name: str, **overrides) -> FanoutConfig:
    preset = {k: v for k, v in SCENARIOS[name].items() if k != "help"}
    preset.update({k: v for k, v in overrides.items() if v is not None})
    return FanoutConfig(scenario=name, **preset)
