"""Digest challenges, credentials and responses: known answers from the RFCs, from SIPp's own test
suite (an independent C implementation), and from a real sipp registration in captures/."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsniff.pipeline import read_trace
from sipsniff.sip.digest import (
    ALGORITHMS,
    DigestError,
    algorithm,
    compute,
    matches,
    parse_auth_params,
    parse_challenge,
    parse_credentials,
    respond,
    userhash,
)
from sipsniff.sip.headers import header_value
from tests.conftest import CAPTURES

# RFC 2617 section 3.5, as printed (folded over several lines, which headers.py unfolds to spaces).
RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_CREDENTIALS = (
    'Digest username="Mufasa", realm="testrealm@host.com", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, '
    'cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)

# RFC 7616 section 3.9.1: the password is "Circle of Life" with a small o (erratum 4495, verified).
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def rfc7616_credentials(algo: str, response: str) -> str:
    return (
        f'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
        f'algorithm={algo}, nonce="{RFC7616_NONCE}", nc=00000001, cnonce="{RFC7616_CNONCE}", '
        f'qop=auth, response="{response}", opaque="{RFC7616_OPAQUE}"'
    )


def test_rfc2617_circle_of_life() -> None:
    ch = parse_challenge(RFC2617_CHALLENGE)
    assert ch.is_digest and ch.problems == ()
    assert ch.realm == "testrealm@host.com"
    assert ch.qop == ("auth", "auth-int")
    assert ch.nonce == "dcd98b7102dd2f0e8b11d0f600bfb0c093"
    assert ch.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
    assert ch.algorithm is None and ch.stale is False
    cr = parse_credentials(RFC2617_CREDENTIALS)
    assert cr.problems == ()
    assert (cr.username, cr.uri, cr.qop, cr.nc, cr.cnonce) == (
        "Mufasa",
        "/dir/index.html",
        "auth",
        "00000001",
        "0a4f113b",
    )
    steps = respond(cr, method="GET", password="Circle Of Life")
    assert steps.response == "6629fae49393a05397450978507c4ef1"
    assert matches(steps, cr)
    # the steps, each recomputed here by hand
    assert steps.ha1 == hashlib.md5(b"Mufasa:testrealm@host.com:Circle Of Life").hexdigest()
    assert steps.a2 == "GET:/dir/index.html"
    assert steps.ha2 == hashlib.md5(b"GET:/dir/index.html").hexdigest()
    assert (
        steps.kd
        == f"{steps.ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{steps.ha2}"
    )
    assert steps.a1_masked() == "Mufasa:testrealm@host.com:***"
    assert not matches(respond(cr, method="GET", password="Circle of Life"), cr)
    assert not matches(respond(cr, method="POST", password="Circle Of Life"), cr)


@pytest.mark.parametrize(
    ("algo", "response"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1(algo: str, response: str) -> None:
    ch = parse_challenge(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algo}, '
        f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"'
    )
    assert ch.qop == ("auth", "auth-int") and ch.algorithm == algo and ch.problems == ()
    cr = parse_credentials(rfc7616_credentials(algo, response))
    assert matches(respond(cr, method="GET", password="Circle of Life"), cr)
    assert not matches(respond(cr, method="GET", password="Circle Of Life"), cr)


def test_rfc7616_section_3_9_2_with_erratum_4897() -> None:
    """SHA-512-256, userhash and a non-ASCII username. The RFC's printed username hash and response
    are not those of its inputs (erratum 4897, also noted by SIPp's tests); these are, and the uri is
    /doe.json as in the request of the example."""
    user = "J\u00e4s\u00f8n Doe"
    hashed = "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    assert userhash("SHA-512-256", user, "api@example.org") == hashed
    cr = parse_credentials(
        f'Digest username="{hashed}", realm="api@example.org", uri="/doe.json", '
        'algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", '
        'nc=00000001, cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v", qop=auth, '
        'response="3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5", '
        'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", userhash=true'
    )
    assert cr.userhash
    assert matches(respond(cr, method="GET", password="Secret, or not?", username=user), cr)
    assert not matches(
        respond(cr, method="GET", password="Secret, or not?", username="Jason Doe"), cr
    )


# Values from SIPp's src/auth.cpp test suite (TEST(DigestAuth, RFC7616)): the RFC 7616 3.9.1 inputs
# with the other algorithms, and with auth-int over an INVITE whose body is "v=0\r\n".
SIPP_RFC7616 = [
    ("SHA-512-256", "GET", "/dir/index.html", "00000001", "auth", b"", "430d05014cecc49cab6fbe03176d41a1da86cbfe24a16580e22aaad928d960d0"),
    ("MD5-sess", "GET", "/dir/index.html", "00000001", "auth", b"", "e783283f46242139c486a698fec7211d"),
    ("SHA-256-sess", "GET", "/dir/index.html", "00000001", "auth", b"", "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7"),
    ("SHA-512-256-sess", "GET", "/dir/index.html", "00000001", "auth", b"", "3f2a34f923c38b0fb26dce2fdfc2ce326c23cecf86fbb1444f3e51fbbc2cb92e"),
    ("MD5", "INVITE", "sip:bob@example.org", "00000002", "auth-int", b"v=0\r\n", "3dbb0971468cf612bdccd7dff696c5e6"),
    ("SHA-256", "INVITE", "sip:bob@example.org", "00000002", "auth-int", b"v=0\r\n", "21468b02aafd4fe0a3d84bfddaf3618cc087adff4bb3c92d0a5f99c3035fcb9a"),
    ("SHA-512-256", "INVITE", "sip:bob@example.org", "00000002", "auth-int", b"v=0\r\n", "959ca26f4f77c10a9a54b19ac24811fbc7f3c7bda8eec5d8521fb4586ed10e90"),
    ("MD5-sess", "INVITE", "sip:bob@example.org", "00000002", "auth-int", b"v=0\r\n", "11713a2ffc80446ab4c404a4a997b69c"),
    ("SHA-256-sess", "INVITE", "sip:bob@example.org", "00000002", "auth-int", b"v=0\r\n", "2c66c095845ec6e7e158c4f689683959329e5296947f1c4930d0ffa7b93c09fd"),
    ("SHA-512-256-sess", "INVITE", "sip:bob@example.org", "00000002", "auth-int", b"v=0\r\n", "39fcf9431af157aced94549f5fff6fea4d427a3e231c8a5557ccc7976e056b09"),
]  # fmt: skip


@pytest.mark.parametrize(("algo", "method", "uri", "nc", "qop", "body", "response"), SIPP_RFC7616)
def test_every_algorithm_against_sipp(
    algo: str, method: str, uri: str, nc: str, qop: str, body: bytes, response: str
) -> None:
    steps = compute(
        algorithm=algo,
        username="Mufasa",
        realm="http-auth@example.org",
        password="Circle of Life",
        method=method,
        uri=uri,
        nonce=RFC7616_NONCE,
        qop=qop,
        nc=nc,
        cnonce=RFC7616_CNONCE,
        body=body,
    )
    assert steps.response == response
    a = algorithm(algo)
    assert a is not None
    assert (steps.session_ha1 is not None) == a.session
    if a.session:
        assert steps.session_a1 == f"{steps.ha1}:{RFC7616_NONCE}:{RFC7616_CNONCE}"
    if qop == "auth-int":
        assert steps.body_hash == hashlib.new(a.hash_name, body).hexdigest()
        assert steps.a2 == f"{method}:{uri}:{steps.body_hash}"
    else:
        assert steps.body_hash is None
    # another body changes an auth-int response and only that one
    other = compute(
        algorithm=algo,
        username="Mufasa",
        realm="http-auth@example.org",
        password="Circle of Life",
        method=method,
        uri=uri,
        nonce=RFC7616_NONCE,
        qop=qop,
        nc=nc,
        cnonce=RFC7616_CNONCE,
        body=b"v=1\r\n",
    )
    assert (other.response != response) == (qop == "auth-int")


@pytest.mark.parametrize(
    ("algo", "nonce", "response"),
    [
        ("MD5", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "db94e01e92f2b09a52a234eeca8b90f7"),
        (
            "SHA-256",
            "ZaGxV2WhsCtREI2EsiD1LR0RYd",
            "91b58523b983191b52d14455a2599631990110c974ed2e4b4b49bc6053af04ce",
        ),
    ],
)
def test_rfc2069_style_against_sipp(algo: str, nonce: str, response: str) -> None:
    """No qop: response = H(HA1:nonce:HA2). SIPp's BasicVerification tests (its uri really is
    ``sip:sip:example.com``: SIPp prefixes ``sip:`` to what it is given)."""
    cr = parse_credentials(
        f'Digest username="testuser",realm="testrealm@host.com",uri="sip:sip:example.com",'
        f'nonce="{nonce}",response="{response}",algorithm={algo}'
    )
    steps = respond(cr, method="REGISTER", password="secret", body=b"hello world")
    assert matches(steps, cr)
    assert steps.kd == f"{steps.ha1}:{nonce}:{steps.ha2}"


def test_sip_auth_examples_bob_zanzibar() -> None:
    """draft-smith-sipping-auth-examples-01 section 3.3 (an INVITE, qop=auth)."""
    steps = compute(
        algorithm="MD5",
        username="bob",
        realm="biloxi.com",
        password="zanzibar",
        method="INVITE",
        uri="sip:bob@biloxi.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert steps.ha1 == "12af60467a33e8518da5c68bbff12b11"
    assert steps.response == "89eb0059246c02b2f6ee02c7961d5ea3"


def test_real_sipp_registration() -> None:
    """captures/register-407.pcap: sipp (user 101, password 101) answered a 407 with MD5, no qop."""
    trace = read_trace([str(CAPTURES / "register-407.pcap")])
    msgs = [e.msg for e in trace.entries.values()]
    challenge = header_value(msgs[1].raw, "Proxy-Authenticate")
    creds = header_value(msgs[2].raw, "Proxy-Authorization")
    assert challenge is not None and creds is not None
    ch = parse_challenge(challenge)
    cr = parse_credentials(creds)
    assert (ch.realm, ch.algorithm, ch.stale, ch.qop) == ("myvoipapp.com", "MD5", False, ())
    assert cr.nonce == ch.nonce == "18bf67854ae23d6d2cd772af69535f91"
    assert msgs[2].method is not None
    steps = respond(cr, method=msgs[2].method, password="101")
    assert steps.response == cr.response == "484b4364eb1ca6c233d0f76ed1023276"
    assert not matches(respond(cr, method=msgs[2].method, password="102"), cr)


def test_response_compared_without_case() -> None:
    cr = parse_credentials(RFC2617_CREDENTIALS.replace("6629fae4", "6629FAE4"))
    assert matches(respond(cr, method="GET", password="Circle Of Life"), cr)


# -- parsing, leniently ------------------------------------------------------------------------


def test_lenient_challenge_shapes() -> None:
    ch = parse_challenge(
        'digest  realm = "a, b" ,nonce=n1  stale=TRUE, qop=auth,algorithm=md5-sess'
    )
    assert (ch.scheme, ch.realm, ch.nonce, ch.stale, ch.algorithm) == (
        "digest",
        "a, b",
        "n1",
        True,
        "md5-sess",
    )
    assert ch.is_digest
    assert ch.qop == ("auth",)
    assert "no comma after nonce" in ch.problems
    assert "qop options not quoted" in ch.problems
    assert algorithm(ch.algorithm) is ALGORITHMS["md5-sess"]


def test_escapes_repeats_and_unterminated_quotes() -> None:
    cr = parse_credentials(
        r'Digest username="a\"b\\", realm="r", realm="other", nonce="n", uri="sip:x", response="ab'
    )
    assert cr.username == 'a"b\\'
    assert cr.realm == "r"
    assert "realm repeated: the first is used" in cr.problems
    assert cr.response == "ab"
    assert "unterminated quoted value of response" in cr.problems


def test_several_challenges_and_other_schemes() -> None:
    ch = parse_challenge('Digest realm="a", nonce="1", Digest realm="b", nonce="2"')
    assert (ch.realm, ch.nonce) == ("a", "1")
    assert ch.problems == ("several challenges in one header value: the first is used",)
    basic = parse_challenge('Basic realm="x"')
    assert not basic.is_digest and basic.realm == "x"
    assert parse_challenge("").problems == ("no auth-scheme",)
    assert parse_challenge('realm="x"').scheme == ""


def test_credentials_problems() -> None:
    cr = parse_credentials('Digest username="u", qop="auth", nc=1')
    assert "qop quoted (RFC 3261 writes message-qop as a token)" in cr.problems
    assert "nc '1' is not 8 hex digits" in cr.problems
    assert "qop without nc and cnonce" in cr.problems
    assert {"no realm", "no nonce", "no uri", "no response"} <= set(cr.problems)
    with pytest.raises(DigestError, match="no realm"):
        respond(cr, method="REGISTER", password="p")


def _compute(
    algo: str | None, qop: str | None = None, nc: str | None = None, cnonce: str | None = None
) -> str:
    return compute(
        algorithm=algo,
        username="u",
        realm="r",
        password="p",
        method="REGISTER",
        uri="sip:r",
        nonce="n",
        qop=qop,
        nc=nc,
        cnonce=cnonce,
    ).response


def test_what_cannot_be_computed() -> None:
    with pytest.raises(DigestError, match="unsupported algorithm 'AKAv1-MD5'"):
        _compute("AKAv1-MD5")
    with pytest.raises(DigestError, match="needs a cnonce"):
        _compute("MD5-sess")
    with pytest.raises(DigestError, match="needs an nc"):
        _compute("MD5", qop="auth", cnonce="c")
    with pytest.raises(DigestError, match="unknown qop"):
        _compute("MD5", qop="auth-conf", nc="00000001", cnonce="c")
    # an absent algorithm is MD5, and names are case-insensitive
    assert algorithm(None) is ALGORITHMS["md5"]
    assert _compute(None) == _compute("md5") == _compute("MD5")
    assert _compute("MD5") != _compute("SHA-256")


_VALUE = st.text(max_size=20)


@given(st.text(max_size=200))
def test_parsers_never_raise(text: str) -> None:
    parse_challenge(text)
    parse_credentials(text)
    parse_auth_params(text)


@given(
    st.lists(
        st.tuples(st.sampled_from(["realm", "nonce", "opaque", "domain", "x-a"]), _VALUE),
        min_size=1,
        max_size=5,
        unique_by=lambda p: p[0],
    )
)
def test_quoted_values_round_trip(params: list[tuple[str, str]]) -> None:
    def q(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    text = "Digest " + ", ".join(f"{n}={q(v)}" for n, v in params)
    ch = parse_challenge(text)
    assert ch.params == tuple(params)
    assert not [p for p in ch.problems if "unterminated" in p or "comma" in p]
