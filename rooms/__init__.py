"""Room state and the engines that carry it: membership, fan-out, history, presence.

`rooms.engine` is the interface; `rooms.memory` the one-process engine; `rooms.hub` the
node-local fan-out. This package imports nothing else of LiveBridge's.
"""
