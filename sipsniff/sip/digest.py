"""HTTP Digest authentication as SIP uses it: challenges, credentials and the response computation.

How this works. SIP borrows HTTP Digest (RFC 3261 section 22.4, RFC 2617); RFC 7616 brought SHA-256
and SHA-512/256 and the ``-sess`` variants, and RFC 8760 made them SIP's too. A server challenges
with ``WWW-Authenticate`` (in a 401) or ``Proxy-Authenticate`` (in a 407); the client answers with
the same request again, carrying ``Authorization`` or ``Proxy-Authorization``.

``parse_challenge`` and ``parse_credentials`` read one such header value (an auth-scheme and a
comma-separated list of ``name=value`` pairs), leniently: real user agents leave out commas, quote
what should not be quoted, repeat parameters. What was odd is kept in ``problems``; nothing raises.

``compute`` returns every step of the response, so that a person can follow it (RFC 7616 3.4.1-3.4.3)::

    HA1      = H(username ":" realm ":" password)
               -sess:  H(HA1 ":" nonce ":" cnonce)
    HA2      = H(method ":" digest-uri)                           qop absent or "auth"
               H(method ":" digest-uri ":" H(entity-body))       qop "auth-int"
    response = H(HA1 ":" nonce ":" HA2)                           qop absent (RFC 2069 compatible)
               H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)

where H is MD5, SHA-256 or SHA-512/256 in lower-case hex. The ``-sess`` HA1 takes the hex of the
plain HA1, as RFC 7616 says and every implementation does (RFC 2617's sample code hashed its 16
bytes instead; its text was ambiguous). Strings are hashed as UTF-8. No IO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final


class DigestError(ValueError):
    """The response cannot be computed: unknown algorithm or qop, or a parameter it needs is missing."""


# -- algorithms --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Algorithm:
    """One Digest algorithm (RFC 7616 section 6.1, RFC 8760 section 2.2)."""

    name: str
    """Canonical spelling, as the IANA registry writes it: ``MD5``, ``SHA-256-sess``..."""
    hash_name: str
    """The ``hashlib`` name of H."""
    hash_label: str
    """H as people write it: ``MD5``, ``SHA-256``, ``SHA-512/256``."""
    session: bool
    """A ``-sess`` variant: HA1 also covers the nonce and the cnonce."""

    @property
    def available(self) -> bool:
        """Whether this Python's hashlib (its OpenSSL) can compute H."""
        import hashlib  # hash_hex says why

        return self.hash_name in hashlib.algorithms_available


ALGORITHMS: Final[dict[str, Algorithm]] = {
    a.name.lower(): a
    for a in (
        Algorithm("MD5", "md5", "MD5", False),
        Algorithm("MD5-sess", "md5", "MD5", True),
        Algorithm("SHA-256", "sha256", "SHA-256", False),
        Algorithm("SHA-256-sess", "sha256", "SHA-256", True),
        Algorithm("SHA-512-256", "sha512_256", "SHA-512/256", False),
        Algorithm("SHA-512-256-sess", "sha512_256", "SHA-512/256", True),
    )
}
"""The algorithms ``compute`` knows, by lower-case name."""

QOPS: Final = ("auth", "auth-int")


def algorithm(name: str | None) -> Algorithm | None:
    """The algorithm called ``name`` (case-insensitive); MD5 when ``name`` is None (an absent
    ``algorithm`` parameter means MD5, RFC 2617 section 3.2.1); None when it is not one of
    ``ALGORITHMS`` (AKAv1-MD5, a typo...)."""
    if name is None:
        return ALGORITHMS["md5"]
    return ALGORITHMS.get(name.strip().lower())


def hash_hex(algo: Algorithm, data: bytes) -> str:
    """H(data) in lower-case hex."""
    # hashlib is imported when a digest is computed, not with the module: it loads OpenSSL's
    # libcrypto, 3.5 MB of every process's memory, which reading a capture never needs.
    import hashlib

    try:
        h = hashlib.new(algo.hash_name, data, usedforsecurity=False)
    except ValueError:
        raise DigestError(f"{algo.hash_label} is not available in this Python's hashlib") from None
    return h.hexdigest()


# -- parsing -----------------------------------------------------------------------------------

# challenge    =  ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
# credentials  =  ("Digest" LWS digest-response) / other-response
# auth-param   =  auth-param-name EQUAL ( token / quoted-string )        RFC 3261 section 25.1
# Leniently: commas optional, spaces around "=", an unterminated quoted string runs to the end.
_TOKEN: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM: Final = re.compile(
    r"[ \t\r\n,]*(" + _TOKEN + r')[ \t\r\n]*=[ \t\r\n]*("(?:[^"\\]|\\.)*(")?|[^ \t\r\n,"]*)',
    re.DOTALL,
)
_SCHEME: Final = re.compile(r"[ \t]*(" + _TOKEN + r")(?:[ \t\r\n]+|$)")
_NEXT_SCHEME: Final = re.compile(r"[ \t\r\n,]*" + _TOKEN + r"[ \t\r\n]+" + _TOKEN + r"[ \t]*=")
_QUOTED_PAIR: Final = re.compile(r"\\(.)", re.DOTALL)
_SKIP: Final = re.compile(r"[^,]*,?")


def _unquote(value: str, closed: bool) -> str:
    """The content of a quoted-string (``closed``: its final quote is there), quoted-pairs resolved."""
    inner = value[1:-1] if closed else value[1:]
    return _QUOTED_PAIR.sub(r"\1", inner) if "\\" in inner else inner


def parse_auth_params(value: str) -> tuple[str, tuple[tuple[str, str, bool], ...], tuple[str, ...]]:
    """Split one WWW-Authenticate / Authorization-style value into its parts.

    Returns:
        The auth-scheme as written (``""`` when there is none), the parameters as ``(lower-case
        name, value unquoted, was quoted)`` in order (repeats kept), and the problems seen.
    """
    problems: list[str] = []
    m = _SCHEME.match(value)
    if m is None:
        return "", (), ("no auth-scheme",)
    scheme = m.group(1)
    pos = m.end()
    params: list[tuple[str, str, bool]] = []
    n = len(value)
    while pos < n:
        rest = value[pos:]
        if not rest.strip(" \t\r\n,"):
            break
        p = _PARAM.match(value, pos)
        if p is None:
            if _NEXT_SCHEME.match(value, pos) is not None:
                problems.append("several challenges in one header value: the first is used")
                break
            skipped = _SKIP.match(value, pos)
            assert skipped is not None  # the pattern matches the empty string
            problems.append(f"unparsable text {value[pos : skipped.end()].strip()[:40]!r}")
            pos = skipped.end() if skipped.end() > pos else n
            continue
        raw = p.group(2)
        quoted = raw[:1] == '"'
        text = _unquote(raw, p.group(3) is not None) if quoted else raw
        if quoted and p.group(3) is None:
            problems.append(f"unterminated quoted value of {p.group(1)}")
        params.append((p.group(1).lower(), text, quoted))
        pos = p.end()
        after = value[pos:].lstrip(" \t\r\n")
        if after and after[0] != ",":
            problems.append(f"no comma after {p.group(1)}")
    return scheme, tuple(params), tuple(problems)


def _first(
    params: tuple[tuple[str, str, bool], ...], problems: list[str]
) -> dict[str, tuple[str, bool]]:
    out: dict[str, tuple[str, bool]] = {}
    for name, value, quoted in params:
        if name in out:
            problems.append(f"{name} repeated: the first is used")
            continue
        out[name] = (value, quoted)
    return out


def _bool(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """A WWW-Authenticate or Proxy-Authenticate value (RFC 3261 section 25.1 ``challenge``)."""

    scheme: str
    """Auth-scheme as written: ``Digest`` normally."""
    realm: str | None = None
    nonce: str | None = None
    opaque: str | None = None
    algorithm: str | None = None
    """As written; None when absent, which means MD5."""
    qop: tuple[str, ...] = ()
    """The qop-options offered (``auth``, ``auth-int``), lower-cased; () when none: the client then
    answers the RFC 2069 way, without cnonce and nc."""
    stale: bool = False
    """``stale=true``: the previous credentials were right but their nonce had expired."""
    domain: str | None = None
    userhash: bool = False
    """RFC 7616: the client may send H(username:realm) instead of the username."""
    charset: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    """Every auth-param, (lower-case name, unquoted value), in order."""
    problems: tuple[str, ...] = ()

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """An Authorization or Proxy-Authorization value (RFC 3261 section 25.1 ``credentials``)."""

    scheme: str
    username: str | None = None
    realm: str | None = None
    nonce: str | None = None
    uri: str | None = None
    """The digest-uri the response covers (usually, not always, the Request-URI)."""
    response: str | None = None
    algorithm: str | None = None
    cnonce: str | None = None
    nc: str | None = None
    """nonce-count as written (8 hex digits)."""
    qop: str | None = None
    """The qop chosen (``auth``, ``auth-int``), lower-cased; None for an RFC 2069 response."""
    opaque: str | None = None
    userhash: bool = False
    params: tuple[tuple[str, str], ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"


def parse_challenge(value: str) -> DigestChallenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate value, leniently (never raises).

    ``Digest realm="atlanta.com", qop="auth,auth-int", nonce="84a4cc6f", stale=FALSE`` ->
    ``DigestChallenge("Digest", realm="atlanta.com", nonce="84a4cc6f", qop=("auth", "auth-int"))``.
    """
    scheme, raw, found = parse_auth_params(value)
    problems = list(found)
    p = _first(raw, problems)

    def get(name: str) -> str | None:
        v = p.get(name)
        return None if v is None else v[0]

    qop_text = get("qop")
    qop: tuple[str, ...] = ()
    if qop_text is not None:
        if not p["qop"][1]:
            problems.append("qop options not quoted")
        qop = tuple(q for part in qop_text.split(",") if (q := part.strip().lower()))
    for name in ("realm", "nonce"):
        if name not in p and scheme.lower() == "digest":
            problems.append(f"no {name}")
    return DigestChallenge(
        scheme=scheme,
        realm=get("realm"),
        nonce=get("nonce"),
        opaque=get("opaque"),
        algorithm=get("algorithm"),
        qop=qop,
        stale=_bool(get("stale")),
        domain=get("domain"),
        userhash=_bool(get("userhash")),
        charset=get("charset"),
        params=tuple((n, v) for n, v, _ in raw),
        problems=tuple(problems),
    )


def parse_credentials(value: str) -> DigestCredentials:
    """Parse an Authorization / Proxy-Authorization value, leniently (never raises)."""
    scheme, raw, found = parse_auth_params(value)
    problems = list(found)
    p = _first(raw, problems)

    def get(name: str) -> str | None:
        v = p.get(name)
        return None if v is None else v[0]

    qop = get("qop")
    if qop is not None:
        qop = qop.strip().lower()
        if p["qop"][1]:
            problems.append("qop quoted (RFC 3261 writes message-qop as a token)")
    nc = get("nc")
    if nc is not None and re.fullmatch(r"[0-9a-fA-F]{8}", nc) is None:
        problems.append(f"nc {nc[:20]!r} is not 8 hex digits")
    if scheme.lower() == "digest":
        for name in ("username", "realm", "nonce", "uri", "response"):
            if name not in p:
                problems.append(f"no {name}")
        if qop is not None and (nc is None or get("cnonce") is None):
            problems.append("qop without nc and cnonce")
    return DigestCredentials(
        scheme=scheme,
        username=get("username"),
        realm=get("realm"),
        nonce=get("nonce"),
        uri=get("uri"),
        response=get("response"),
        algorithm=get("algorithm"),
        cnonce=get("cnonce"),
        nc=nc,
        qop=qop,
        opaque=get("opaque"),
        userhash=_bool(get("userhash")),
        params=tuple((n, v) for n, v, _ in raw),
        problems=tuple(problems),
    )


# -- computation -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestSteps:
    """Every intermediate value of one response computation (see the module's docstring).

    The password is kept so that a renderer can show A1, or mask it: ``a1_masked("***")``.
    """

    algorithm: Algorithm
    username: str
    realm: str
    password: str
    ha1: str
    """H(username:realm:password)."""
    session_a1: str | None
    """``HA1:nonce:cnonce`` for a -sess algorithm, else None."""
    session_ha1: str | None
    """H(session_a1), the HA1 the response uses for a -sess algorithm, else None."""
    body_hash: str | None
    """H(entity-body) for qop=auth-int, else None."""
    a2: str
    """``method:digest-uri`` (``:H(body)`` added for auth-int)."""
    ha2: str
    kd: str
    """The string whose hash is the response: ``HA1:nonce:HA2`` or ``HA1:nonce:nc:cnonce:qop:HA2``."""
    response: str

    @property
    def a1(self) -> str:
        return f"{self.username}:{self.realm}:{self.password}"

    def a1_masked(self, mask: str = "***") -> str:
        return f"{self.username}:{self.realm}:{mask}"

    @property
    def key(self) -> str:
        """The HA1 that enters the response (the session one for -sess algorithms)."""
        return self.session_ha1 if self.session_ha1 is not None else self.ha1


def compute(
    *,
    algorithm: str | None,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> DigestSteps:
    """Compute a Digest response and every step to it.

    Args:
        algorithm: as in the header (None means MD5).
        method: the request's method (for an ACK or CANCEL, ``ACK`` or ``CANCEL``: RFC 3261 22.1).
        uri: the ``uri`` parameter of the credentials, as written.
        qop: None (RFC 2069 style), ``auth`` or ``auth-int``.
        body: the request's body, hashed for ``auth-int``.

    Raises:
        DigestError: unknown algorithm or qop, or nc/cnonce missing where they are needed.
    """
    algo = _algorithm_or_raise(algorithm)
    if qop is not None and qop.lower() not in QOPS:
        raise DigestError(f"unknown qop {qop!r}")
    needs_cnonce = qop is not None or algo.session
    if needs_cnonce and cnonce is None:
        raise DigestError(f"{'qop=' + qop if qop else algo.name} needs a cnonce")
    if qop is not None and nc is None:
        raise DigestError(f"qop={qop} needs an nc")

    def h(text: str) -> str:
        return hash_hex(algo, text.encode("utf-8"))

    ha1 = h(f"{username}:{realm}:{password}")
    session_a1 = session_ha1 = None
    if algo.session:
        session_a1 = f"{ha1}:{nonce}:{cnonce}"
        session_ha1 = h(session_a1)
    body_hash = None
    a2 = f"{method}:{uri}"
    if qop is not None and qop.lower() == "auth-int":
        body_hash = hash_hex(algo, body)
        a2 = f"{a2}:{body_hash}"
    ha2 = h(a2)
    key = session_ha1 if session_ha1 is not None else ha1
    if qop is None:
        kd = f"{key}:{nonce}:{ha2}"
    else:
        kd = f"{key}:{nonce}:{nc}:{cnonce}:{qop.lower()}:{ha2}"
    return DigestSteps(
        algorithm=algo,
        username=username,
        realm=realm,
        password=password,
        ha1=ha1,
        session_a1=session_a1,
        session_ha1=session_ha1,
        body_hash=body_hash,
        a2=a2,
        ha2=ha2,
        kd=kd,
        response=h(kd),
    )


def _algorithm_or_raise(name: str | None) -> Algorithm:
    algo = algorithm(name)
    if algo is None:
        raise DigestError(f"unsupported algorithm {name!r}")
    if not algo.available:
        raise DigestError(f"{algo.hash_label} is not available in this Python's hashlib")
    return algo


def userhash(algorithm_name: str | None, username: str, realm: str) -> str:
    """The ``username`` sent with ``userhash=true``: H(username:realm) (RFC 7616 section 3.4.4).

    Raises:
        DigestError: unknown algorithm.
    """
    algo = _algorithm_or_raise(algorithm_name)
    return hash_hex(algo, f"{username}:{realm}".encode())


def respond(
    credentials: DigestCredentials,
    *,
    method: str,
    password: str,
    body: bytes = b"",
    username: str | None = None,
) -> DigestSteps:
    """Recompute the response of ``credentials`` with ``password``: its realm, nonce, uri, qop, nc,
    cnonce and algorithm, and the request's ``method`` and ``body``.

    Args:
        username: the real username when the credentials carry a userhash; default theirs.

    Raises:
        DigestError: the credentials lack something the computation needs, or use an unknown
            algorithm or qop.
    """
    c = credentials
    for name, val in (("realm", c.realm), ("nonce", c.nonce), ("uri", c.uri)):
        if val is None:
            raise DigestError(f"no {name} in the credentials")
    user = username if username is not None else c.username
    if user is None:
        raise DigestError("no username in the credentials")
    assert c.realm is not None and c.nonce is not None and c.uri is not None
    return compute(
        algorithm=c.algorithm,
        username=user,
        realm=c.realm,
        password=password,
        method=method,
        uri=c.uri,
        nonce=c.nonce,
        qop=c.qop,
        nc=c.nc,
        cnonce=c.cnonce,
        body=body,
    )


def matches(steps: DigestSteps, credentials: DigestCredentials) -> bool:
    """Whether the computed response is the one in the credentials (hex compared case-insensitively)."""
    sent = credentials.response
    return sent is not None and sent.strip().lower() == steps.response
