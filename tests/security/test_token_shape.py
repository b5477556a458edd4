"""The token fast path (chatserver.auth._IssuedShape) gives PyJWT's answer for every token:
the same user for the tokens it accepts, and for anything else it steps aside (None) so
PyJWT refuses with its own reason. Expiry holds on every call (nothing is cached per token)."""

from __future__ import annotations

import base64
import datetime
import hmac
import json
import time

import jwt
import pytest

from chatserver.auth import ISSUER, AuthError, TokenIssuer

SECRET = "s" * 48


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(claims: dict, *, secret: str = SECRET, headers: dict | None = None, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg, headers=headers)


def raw(payload: bytes, head: str) -> str:
    """A token of any payload bytes, signed as HS256 would (PyJWT's encode refuses some)."""
    body = b64(payload)
    return f"{head}.{body}.{b64(hmac.new(SECRET.encode(), f'{head}.{body}'.encode(), 'sha256').digest())}"


def claims(**changes) -> dict:
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "g_1", "name": "Viewer", "lang": "zh", "kind": "guest", "iat": now,
            "exp": now + 60}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def outcome(call, token):
    try:
        return call(token)
    except AuthError as exc:
        return f"refused: {exc}"


def tokens() -> dict[str, str]:
    now = int(time.time())
    good = signed(claims())
    head, payload, sig = good.split(".")
    return {
        "good": good,
        "admin": signed(claims(admin=True, kind="member")),
        "expired": signed(claims(exp=now - 6)),
        "expired within leeway": signed(claims(exp=now - 2)),
        "iat in the future": signed(claims(iat=now + 60)),
        "iat within leeway": signed(claims(iat=now + 2)),
        "float exp": signed(claims(exp=now + 60.5)),
        "string exp": signed(claims(exp=str(now + 60))),
        "bool iat": signed(claims(iat=True)),
        "no exp": signed(claims(exp=None)),
        "no iat": signed(claims(iat=None)),
        "no sub": signed(claims(sub=None)),
        "no iss": signed(claims(iss=None)),
        "other issuer": signed(claims(iss="someone")),
        "list issuer": raw(json.dumps(claims(iss=[ISSUER])).encode(), head),
        "sub not a string": signed(claims(sub=7)),
        "long sub": signed(claims(sub="x" * 65)),
        "audience": signed(claims(aud="elsewhere")),
        "nbf in the future": signed(claims(nbf=now + 60)),
        "nbf past": signed(claims(nbf=now - 60)),
        "jti": signed(claims(jti=5)),
        "bad kind": signed(claims(kind="robot")),
        "bad lang": signed(claims(lang="fr")),
        "control name": signed(claims(name="\u202eevil")),
        "other secret": signed(claims(), secret="t" * 48),
        "extra header": signed(claims(), headers={"kid": "k1"}),
        "HS512": signed(claims(), alg="HS512"),
        "alg none": f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}.",
        "no signature": f"{head}.{payload}.",
        "padded signature": f"{head}.{payload}.{sig}=",
        "altered payload": f"{head}.{b64(json.dumps(claims(sub='g_2')).encode())}.{sig}",
        "payload a list": raw(b"[1]", head),
        "payload not json": raw(b"{nope", head),
        "payload not utf-8": raw(b"\xff\xfe", head),
        "raw good": raw(json.dumps(claims()).encode(), head),
        "non-ascii signature": f"{head}.{payload}.\u00e9\u00e9",
        "non-ascii payload": f"{head}.\u00e9{payload}.{sig}",
        "two dots short": "a.b",
        "four parts": good + ".x",
        "empty": "",
    }


@pytest.mark.parametrize("name", list(tokens()))
def test_the_fast_path_answers_as_pyjwt_does(name):
    issuer = TokenIssuer(SECRET, ttl=60)
    token = tokens()[name]
    fast, slow = outcome(issuer.verify, token), outcome(lambda t: issuer._user(issuer.decode(t)), token)
    assert fast == slow
    accepted = issuer._issued.claims(token)
    if accepted is not None:  # the fast path's claims are the ones PyJWT verifies
        assert accepted == issuer.decode(token)


def test_the_fast_path_takes_what_the_issuer_issues():
    issuer = TokenIssuer(SECRET, ttl=60)
    token, user, _ = issuer.issue(name="Viewer", lang="en")
    assert issuer._issued.claims(token) is not None  # the common case does not need PyJWT
    assert issuer.verify(token) == user
    for name in ("expired", "other secret", "altered payload", "audience", "iat in the future"):
        assert issuer._issued.claims(tokens()[name]) is None, name


def test_expiry_holds_on_every_verify(monkeypatch):
    issuer = TokenIssuer(SECRET, ttl=60)
    token, user, expires = issuer.issue(name="Viewer", lang="en", ttl=30)
    assert issuer.verify(token) == user
    later = expires + 6  # past exp and the leeway, for the fast path's clock and PyJWT's

    class Later(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.fromtimestamp(later, tz)

    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(jwt.api_jwt, "datetime", Later)
    with pytest.raises(AuthError, match="token expired"):
        issuer.verify(token)
