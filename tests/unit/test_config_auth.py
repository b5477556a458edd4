"""Settings from options and environment; tokens and origins."""

import argparse
import time

import jwt
import pytest

from chatserver import config
from chatserver.auth import AuthError, TokenIssuer, origin_allowed
from chatserver.server import RedactTokens


def parse(*argv):
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_options_beat_environment_beats_defaults():
    env = {"LIVEBRIDGE_PORT": "9001", "LIVEBRIDGE_HISTORY_SIZE": "50", "LIVEBRIDGE_AUTO_CREATE_ROOMS": "false"}
    s = config.load(parse("--port", "9002"), env)
    assert (s.port, s.history_size, s.auto_create_rooms, s.host) == (9002, 50, False, "127.0.0.1")


@pytest.mark.parametrize("env,fragment", [
    ({"LIVEBRIDGE_PORT": "eighty"}, "LIVEBRIDGE_PORT"),
    ({"LIVEBRIDGE_TRANSLATION": "sometimes"}, "--translation"),
    ({"LIVEBRIDGE_SECRET": "short"}, "--secret"),
    ({"LIVEBRIDGE_TRANSLATION": "workers"}, "--redis-url"),
    ({"LIVEBRIDGE_REDIS_URL": "http://x"}, "--redis-url"),
])
def test_bad_settings_name_the_setting(env, fragment):
    with pytest.raises(config.SettingsError, match=fragment):
        config.load(None, env)


def test_guests_default_on_without_secret_and_off_with_it():
    assert config.load(None, {}).guests_allowed
    assert not config.load(None, {"LIVEBRIDGE_SECRET": "x" * 20}).guests_allowed
    assert config.load(None, {"LIVEBRIDGE_SECRET": "x" * 20, "LIVEBRIDGE_ALLOW_GUESTS": "1"}).guests_allowed


def test_redacted_settings_hide_secrets_and_redis_passwords():
    s = config.load(None, {"LIVEBRIDGE_SECRET": "s" * 20, "LIVEBRIDGE_REDIS_URL": "redis://:pw@h:6379/0"})
    shown = str(s.redacted())
    assert "s" * 20 not in shown and "pw" not in shown


def test_tokens_round_trip_and_refuse_tampering_expiry_and_other_secrets():
    issuer = TokenIssuer("k" * 32, ttl=60)
    token, user, _ = issuer.issue(name="  李雷 ", lang="zh")
    assert issuer.verify(token) == user and user.name == "李雷" and user.id.startswith("g_")
    with pytest.raises(AuthError, match="invalid"):
        TokenIssuer("o" * 32, ttl=60).verify(token)
    with pytest.raises(AuthError):
        issuer.verify(token[:-2] + "xx")
    expired = jwt.encode({"iss": "livebridge", "sub": "u", "iat": 1, "exp": int(time.time()) - 60}, "k" * 32)
    with pytest.raises(AuthError, match="expired"):
        issuer.verify(expired)
    unsigned = jwt.encode({"iss": "livebridge", "sub": "u", "iat": 1, "exp": 2**40}, None, algorithm="none")
    with pytest.raises(AuthError):
        issuer.verify(unsigned)


@pytest.mark.parametrize("name", ["", "   ", "x" * 33, "\x00\x01"])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError):
        TokenIssuer("k" * 32, ttl=60).issue(name=name, lang="en")


def test_origin_rules():
    assert origin_allowed(None, "h:1", [])
    assert origin_allowed("http://h:1", "h:1", [])
    assert not origin_allowed("http://evil.example", "h:1", [])
    assert origin_allowed("https://app.example", "h:1", ["https://app.example/"])
    assert origin_allowed("http://any", "h:1", ["*"])
    assert not origin_allowed("null", "h:1", [])


def test_log_filter_redacts_tokens():
    import logging
    record = logging.LogRecord("uvicorn.error", 20, "", 0, '%s - "WebSocket %s" [accepted]',
                               ("1.2.3.4", "/ws?token=abc.def.ghi&x=1"), None)
    RedactTokens().filter(record)
    assert "abc.def" not in record.getMessage() and "token=***" in record.getMessage()
