"""Moderation: roles and permissions, blocked terms, rate limits, host actions, audit log.

The decisions (:mod:`moderation.roles`, :mod:`moderation.terms`, :mod:`moderation.ratelimit`
policy) are pure functions; :class:`moderation.service.Moderation` is the facade the server
calls and only does I/O around them, keeping every piece of shared state in the engine so
that a decision made on one node holds on every node.
"""

from moderation.service import Actor, Decision, Moderation, ModerationError

__all__ = ["Actor", "Decision", "Moderation", "ModerationError"]
