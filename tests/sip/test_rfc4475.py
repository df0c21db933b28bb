"""RFC 4475 torture tests: every message of the archive, with its fields read from the RFC text.

The table says, for each file, what the RFC classes it as (README.md of the corpus folder) and what
``parse_message`` must make of it: the start line, Call-ID, CSeq, the topmost Via's branch and
sent-by, the From and To tags, Content-Length and the body length, and the exact problems noted.
Invalid messages are either ``Skipped`` with a reason, or a ``Message`` whose problems name the
flaw.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from sipsniff.model import Endpoint, Message, Payload, Skipped
from sipsniff.sip.headers import header_values, parse_headers, parse_name_addr, parse_via
from sipsniff.sip.parser import looks_like_sip, parse_message

PKT = Payload(
    7, 1_000_000_000, Endpoint("192.0.2.1", 5060), Endpoint("192.0.2.2", 5060), "udp", b""
)


class M(NamedTuple):
    """What parse_message must return for one file."""

    rfc_class: str
    """Class from the corpus README: valid, invalid, semantic, app, compat, extra."""
    start: str | int
    """Method (case kept) or status code."""
    target: str
    """Request-URI, or reason phrase."""
    call_id: str
    cseq: str
    branch: str | None
    sent_by: str
    from_tag: str | None
    to_tag: str | None
    content_length: int | None
    body: int
    """Length of the body."""
    problems: tuple[str, ...] = ()


class S(NamedTuple):
    """The file must be skipped, with this reason."""

    rfc_class: str
    reason: str


LONG_CALL_ID = "longreq.one" + "really" * 20 + "longcallid"
LONG_TAG = "1" + "298" * 50 + "2424"
INTMETH = "!interesting-Method0123456789_*+`.%indeed'~"
INTMETH_RURI = (
    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
    "(doesn't-it)@example.com"
)
UNREASON = "= 2**3 * 5**2 но сто девяносто девять - простое"
NOT_GMT = "Date not in GMT: 'Fri, 01 Jan 2010 16:00:00 EST'"
DN_QUOTES = "unquoted display name with characters that need quotes"

# fmt: off
TABLE: dict[str, M | S] = {
    # 3.1.1 valid messages
    "wsinv": M("valid", "INVITE", "sip:vivekg@chair-dnrc.example.com;unknownparam",
               "wsinv.ndaksdj@192.0.2.1", "9 INVITE", "390skdjuw", "192.0.2.2",
               "98asjd8", "1918181833n", 150, 150),
    "intmeth": M("valid", INTMETH, INTMETH_RURI, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
                 f"139122385 {INTMETH}", "z9hG4bK-.!%66*_+`'~", "host1.example.com",
                 "_token~1'+`*%!-.", None, 0, 0),
    "esc01": M("valid", "INVITE", "sip:sips%3Auser%40example.com@example.net",
               "esc01.239409asdfakjkn23onasd0-3234", "234234 INVITE", "z9hG4bKkdjuw",
               "host5.example.net", "938", None, 150, 150),
    "escnull": M("valid", "REGISTER", "sip:example.com",
                 "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd", "14398234 REGISTER",
                 "z9hG4bKkdjuw", "host5.example.com", "839923423", None, 0, 0),
    "esc02": M("valid", "RE%47IST%45R", "sip:registrar.example.com",
               "esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf", "29344 RE%47IST%45R",
               "z9hG4bK209%fzsnel234", "host.example.com", "f232jadfj23", None, 0, 0),
    "lwsdisp": M("valid", "OPTIONS", "sip:user@example.com", "lwsdisp.1234abcd@funky.example.com",
                 "60 OPTIONS", "z9hG4bKkdjuw", "funky.example.com", "323", None, 0, 0),
    "longreq": M("valid", "INVITE", "sip:user@example.com", LONG_CALL_ID, "3882340 INVITE", None,
                 "sip33.example.com", LONG_TAG, None, 150, 150),
    "dblreq": M("valid", "REGISTER", "sip:example.com", "dblreq.0ha0isndaksdj99sdfafnl3lk233412",
                "8 REGISTER", "z9hG4bKkdjuw23492", "192.0.2.125", "43251j3j324", None, 0, 0,
                ("450 bytes after the message ignored",)),
    "semiuri": M("valid", "OPTIONS", "sip:user;par=u%40example.net@example.com",
                 "semiuri.0ha0isndaksdj", "8 OPTIONS", "z9hG4bKkdjuw", "192.0.2.1", "33242", None,
                 0, 0),
    "transports": M("valid", "OPTIONS", "sip:user@example.com",
                    "transports.kijh4akdnaqjkwendsasfdj", "60 OPTIONS", "z9hG4bKkdjuw",
                    "t1.example.com", "323", None, 0, 0),
    "mpart01": M("valid", "MESSAGE", "sip:kumiko@example.org",
                 "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..", "1 MESSAGE",
                 "z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-", "127.0.0.1:5070", "2fb0dcc9", None,
                 553, 553),
    "unreason": M("valid", 200, UNREASON, "unreason.1234ksdfak3j2erwedfsASdf", "35 INVITE",
                  "z9hG4bK1324923", "192.0.2.198", "11141343", "2229", 154, 154),
    "noreason": M("valid", 100, "", "noreason.asndj203insdf99223ndf", "35 INVITE",
                  "z9hG4bK2398ndaoe", "192.0.2.105", "39ansfi3", "902jndnke3", 0, 0),
    # 3.1.2 invalid messages
    "badinv01": M("invalid", "INVITE", "sip:user@example.com", "badinv01.0ha0isndaksdjasdf3234nas",
                  "8 INVITE", None, "192.0.2.15", "134161461246", None, 152, 152,
                  ("empty parameter in Via",)),
    "clerr": M("invalid", "INVITE", "sip:user@example.com", "clerr.0ha0isndaksdjweiafasdk3",
               "8 INVITE", "z9hG4bK-39234-23523", "host5.example.com", "93942939o2", None, 9999,
               154, ("Content-Length 9999 but only 154 bytes of body (truncated)",)),
    "ncl": M("invalid", "INVITE", "sip:user@example.com", "ncl.0ha0isndaksdj2193423r542w35",
             "0 INVITE", "z9hG4bKkdjuw", "192.0.2.53", "32394234", None, None, 152,
             ("negative Content-Length -999",)),
    "scalar02": M("invalid", "REGISTER", "sip:example.com",
                  "scalar02.23o0pd9vanlq3wnrlnewofjas9ui32", "36893488147419103232 REGISTER",
                  "z9hG4bK342sdfoi3", "host129.example.com", "239232jh3", None, 0, 0,
                  ("CSeq number 36893488147419103232 out of range (0-4294967295)",)),
    "scalarlg": M("invalid", 503, "Service Unavailable",
                  "scalarlg.noase0of0234hn2qofoaf0232aewf2394r", "9292394834772304023312 OPTIONS",
                  "z9hG4bKzzxdiwo34sw", "host129.example.com", "2easdjfejw", None, 0, 0,
                  ("CSeq number 9292394834772304023312 out of range (0-4294967295)",)),
    "quotbal": M("invalid", "INVITE", "sip:user@example.com", "quotbal.aksdj", "8 INVITE",
                 "z9hG4bKkdjuw39234", "192.0.2.59:5050", "93334", None, 152, 152,
                 ("To: unterminated quoted display name",)),
    "ltgtruri": M("invalid", "INVITE", "<sip:user@example.com>", "ltgtruri.1@192.0.2.5", "1 INVITE",
                  None, "192.0.2.5", "39291", None, 159, 159, ("Request-URI enclosed in < >",)),
    "lwsruri": M("invalid", "INVITE", "sip:user@example.com; lr",
                 "lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423", "2130706432 INVITE",
                 "z9hG4bKkdjuw2395", "192.0.2.1:5060", "231413434", "3xfe-9921883-z9f", 159, 159,
                 ("whitespace inside the Request-URI 'sip:user@example.com; lr'",)),
    "lwsstart": M("invalid", "INVITE", "sip:user@example.com",
                  "lwsstart.dfknq234oi243099adsdfnawe3@example.com", "1893884 INVITE",
                  "z9hG4bKkdjuw3923", "host1.example.com", "8814", None, 150, 150,
                  ("extra whitespace between the request-line elements",)),
    "trws": M("invalid", "OPTIONS", "sip:remote-target@example.com",
              "trws.oicu34958239neffasdhr2345r", "238923 OPTIONS", "z9hG4bK299342093",
              "host1.examle.com", "329429089", None, 0, 0, ("whitespace after the SIP version",)),
    "escruri": M("invalid", "INVITE", "sip:user@example.com?Route=%3Csip:example.com%3E",
                 "escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5", "149209342 INVITE",
                 "z9hG4bKkdjuw", "host-of-the-hour.example.com", "341518", None, 150, 150,
                 ("Request-URI with headers (?...), not allowed in a Request-URI",)),
    "baddate": M("invalid", "INVITE", "sip:user@example.com",
                 "baddate.239423mnsadf3j23lj42--sedfnm234", "1392934 INVITE", "z9hG4bKkdjuw",
                 "host.example.com", "2234923", None, 150, 150, (NOT_GMT,)),
    "regbadct": M("invalid", "REGISTER", "sip:example.com", "regbadct.k345asrl3fdbv@10.0.0.1",
                  "1 REGISTER", "z9hG4bKkdjuw", "135.180.130.133:5060", "998332", None, 0, 0,
                  ("Contact URI with headers (?...) not enclosed in < >",)),
    "badaspec": M("invalid", "OPTIONS", "sip:user@example.org",
                  "badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3", "3923239 OPTIONS",
                  "z9hG4bKkdju43234", "host4.example.com:5060", "433423", None, 0, 0,
                  ("To: whitespace inside the < > around the URI",)),
    "baddn": M("invalid", "OPTIONS", "sip:t.watson@example.org", "baddn.31415@c.example.com",
               "3923239 OPTIONS", "z9hG4bKkdjuw", "c.example.com:5060", "43", None, 0, 0,
               ("header section not terminated by an empty line", f"From: {DN_QUOTES}",
                f"To: {DN_QUOTES}")),
    "badvers": M("invalid", "OPTIONS", "sip:t.watson@example.org", "badvers.31417@c.example.com",
                 "1 OPTIONS", "z9hG4bKkdjuw", "c.example.com", "qweoiqpe", None, 0, 0,
                 ("SIP version 'SIP/7.0' is not SIP/2.0",)),
    "mismatch01": M("invalid", "OPTIONS", "sip:user@example.com", "mismatch01.dj0234sxdfl3",
                    "8 INVITE", "z9hG4bKkdjuw", "host.example.com", "34525", None, 0, 0,
                    ("CSeq method INVITE does not match the request method OPTIONS",)),
    "mismatch02": M("invalid", "NEWMETHOD", "sip:user@example.com", "mismatch02.dj0234sxdfl3",
                    "8 INVITE", "z9hG4bKkdjuw", "host.example.net", "34525", None, 138, 138,
                    ("CSeq method INVITE does not match the request method NEWMETHOD",)),
    "bigcode": S("invalid", "status code 4294967301 out of range (100-699)"),
    # 3.2 and 3.3: semantic tests and application-layer ones
    "badbranch": M("semantic", "OPTIONS", "sip:user@example.com",
                   "badbranch.sadonfo23i420jv0as0derf3j3n", "8 OPTIONS", "z9hG4bK", "192.0.2.1",
                   "33242", None, 0, 0, ("Via branch is the bare magic cookie z9hG4bK",)),
    "insuf": M("semantic", "INVITE", "sip:user@example.com", "", "193942 INVITE",
               "z9hG4bKkdj.insuf", "192.0.2.95", None, None, 152, 152,
               ("no Call-ID header", "no From header", "no To header")),
    "unkscm": M("semantic", "OPTIONS", "nobodyKnowsThisScheme:totallyopaquecontent",
                "unkscm.nasdfasser0q239nwsdfasdkl34", "3923423 OPTIONS", "z9hG4bKkdjuw39234",
                "host9.example.com", "384", None, 0, 0),
    "novelsc": M("semantic", "OPTIONS", "soap.beep://192.0.2.103:3002",
                 "novelsc.asdfasser0q239nwsdfasdkl34", "3923423 OPTIONS", "z9hG4bKkdjuw39234",
                 "host9.example.com", "384", None, 0, 0),
    "unksm2": M("semantic", "REGISTER", "sip:example.com",
                "unksm2.daksdj@hyphenated-host.example.com", "234902 REGISTER", "z9hG4bKkdjuw",
                "192.0.2.21:5060", "3234233", None, 0, 0),
    "bext01": M("semantic", "OPTIONS", "sip:user@example.com", "bext01.0ha0isndaksdj", "8 OPTIONS",
                "z9hG4bKkdjuw", "fold-and-staple.example.com", "242etr", None, 0, 0),
    "invut": M("semantic", "INVITE", "sip:user@example.com", "invut.0ha0isndaksdjadsfij34n23d",
               "235448 INVITE", "z9hG4bKkdjuw", "somehost.example.com", "8392034", None, 40, 40),
    "regaut01": M("semantic", "REGISTER", "sip:example.com", "regaut01.0ha0isndaksdj",
                  "9338 REGISTER", "z9hG4bKkdjuw", "192.0.2.253", "87321hj23128", None, 0, 0),
    "multi01": M("semantic", "INVITE", "sip:user@company.com", "multi01.98asdh@192.0.2.1",
                 "5 INVITE", "z9hG4bKkdjuw", "192.0.2.25", "3413415", None, 154, 154,
                 ("more than one CSeq header (the first is used)",
                  "more than one Call-ID header (the first is used)",
                  "more than one To header (the first is used)",
                  "more than one From header (the first is used)")),
    "mcl01": M("semantic", "OPTIONS", "sip:user@example.com", "mcl01.fhn2323orihawfdoa3o4r52o3irsdf",
               "15932 OPTIONS", "z9hG4bK293423", "host5.example.net", "3923942", None, None, 67,
               ("conflicting Content-Length values (5, 13): framing as if absent",)),
    "bcast": M("semantic", 200, "OK", "bcast.0384840201234ksdfak3j2erwedfsASdf", "35 INVITE",
               "z9hG4bK1324923", "192.0.2.198", "11141343", "2229", 154, 154),
    "zeromf": M("app", "OPTIONS", "sip:user@example.com", "zeromf.jfasdlfnm2o2l43r5u0asdfas",
                "39234321 OPTIONS", "z9hG4bKkdjuw2349i", "host1.example.com", "3ghsd41", None, 0,
                0),
    "cparam01": M("app", "REGISTER", "sip:example.com", "cparam01.70710@saturn.example.com",
                  "2 REGISTER", "z9hG4bKkdjuw", "saturn.example.com:5060", "DkfVgjkrtMwaerKKpe",
                  None, 0, 0),
    "cparam02": M("app", "REGISTER", "sip:example.com", "cparam02.70710@saturn.example.com",
                  "3 REGISTER", "z9hG4bKkdjuw", "saturn.example.com:5060", "838293", None, 0, 0),
    "regescrt": M("app", "REGISTER", "sip:example.com", "regescrt.k345asrl3fdbv@192.0.2.1",
                  "14398234 REGISTER", "z9hG4bKkdjuw", "host5.example.com", "8", None, 0, 0),
    "sdp01": M("semantic", "INVITE", "sip:user@example.com", "sdp01.ndaksdj9342dasdd", "8 INVITE",
               "z9hG4bKkdjuw", "192.0.2.15", "234", None, 150, 150),
    # 3.4 backward compatibility: no branch, no From tag, no Content-Length (body = the rest)
    "inv2543": M("compat", "INVITE", "sip:UserB@example.com", "inv2543.1717@ift.client.example.com",
                 "56 INVITE", None, "iftgw.example.com", None, None, None, 105),
    # not in the RFC: request line without a SIP-Version
    "test": S("extra", "no SIP start line (no SIP version): 'INVITE sip:alan@jasomi.com'"),
}
# fmt: on


def read(rfc4475: Path, name: str) -> bytes:
    return (rfc4475 / f"{name}.dat").read_bytes()


def parse(rfc4475: Path, name: str) -> Message:
    result = parse_message(read(rfc4475, name), PKT)
    assert isinstance(result, Message), result
    return result


def test_the_table_covers_every_file(rfc4475: Path) -> None:
    assert sorted(p.stem for p in rfc4475.glob("*.dat")) == sorted(TABLE)
    assert len(TABLE) == 50


@pytest.mark.parametrize("name", sorted(TABLE))
def test_message(rfc4475: Path, name: str) -> None:
    raw = read(rfc4475, name)
    expected = TABLE[name]
    result = parse_message(raw, PKT)
    if isinstance(expected, S):
        assert isinstance(result, Skipped)
        assert result == Skipped(7, 1_000_000_000, expected.reason, 0, PKT.src, PKT.dst, "udp", raw)
        return
    assert isinstance(result, Message), result
    if isinstance(expected.start, int):
        assert (result.method, result.ruri) == (None, None)
        assert (result.status, result.reason) == (expected.start, expected.target)
    else:
        assert (result.status, result.reason) == (None, None)
        assert (result.method, result.ruri) == (expected.start, expected.target)
    got = (
        result.call_id,
        result.cseq,
        result.branch,
        result.sent_by,
        result.from_tag,
        result.to_tag,
        result.content_length,
        len(result.body),
        result.problems,
    )
    assert got == expected[3:]
    assert result.truncated == (name == "clerr")
    assert result.pkt is PKT
    # the message is the datagram, except for dblreq (an INVITE follows it)
    if name == "dblreq":
        assert result.raw == raw[:300]
    else:
        assert result.raw is raw
    assert result.raw[result.body_start :] == result.body


@pytest.mark.parametrize("name", sorted(TABLE))
def test_looks_like_sip(rfc4475: Path, name: str) -> None:
    # every torture message is SIP by content, except test.dat (no version) and bigcode.dat
    # which still looks like a status line (its code is checked by the parser)
    assert looks_like_sip(read(rfc4475, name)) == (name != "test")


def test_every_invalid_message_is_skipped_or_flagged() -> None:
    for name, expected in TABLE.items():
        if expected.rfc_class in ("invalid", "extra"):
            assert isinstance(expected, S) or expected.problems, name
        elif expected.rfc_class in ("valid", "app", "compat") and name != "dblreq":
            assert isinstance(expected, M) and not expected.problems, name


@pytest.mark.parametrize("name", sorted(TABLE))
def test_no_prefix_of_a_message_crashes(rfc4475: Path, name: str) -> None:
    raw = read(rfc4475, name)
    for cut in range(0, len(raw), 3):
        result = parse_message(raw[:cut], PKT)
        assert isinstance(result, Message | Skipped)
        if isinstance(result, Message):
            assert result.raw == raw[: len(result.raw)]


# -- details the table does not show -----------------------------------------------------------


def test_wsinv_folded_and_spaced(rfc4475: Path) -> None:
    msg = parse(rfc4475, "wsinv")
    assert msg.from_name == 'J Rosenberg \\"'
    assert msg.from_uri == "sip:jdrosen@example.com"
    assert msg.to_uri == "sip:vivekg@chair-dnrc.example.com"
    assert msg.cseq_num == 9
    vias = [parse_via(v) for v in header_values(msg.raw, "Via")]
    assert [(v.transport, v.sent_by, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    headers = dict(parse_headers(msg.raw))
    assert headers["Subject"] == ""
    assert headers["NewFangledHeader"] == "newfangled value continued newfangled value"
    assert headers["UnknownHeaderWithUnusualValue"] == ";;,,;;,;"
    assert headers["Max-Forwards"] == "0068"
    contact = parse_name_addr(header_values(msg.raw, "Contact")[0])
    assert contact.display == 'Quoted string ""'
    assert contact.uri == "sip:jdrosen@example.com"
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    route = header_values(msg.raw, "Route")
    assert route == ["<sip:services.example.com;lr;unknownwith=value;unknown-no-value>"]


def test_intmeth_display_names_and_utf8(rfc4475: Path) -> None:
    msg = parse(rfc4475, "intmeth")
    assert msg.to_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.to_uri == "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com"
    assert msg.from_name == "token1~` token2'+_ token3*%!.-"
    from_ = parse_name_addr(header_values(msg.raw, "From")[0])
    assert from_.params["fromparam''~+*_!.-%"] == "работающий"
    assert header_values(msg.raw, "extensionHeader-!.%*+_`'~") == ["\ufeff大停電"]


def test_esc02_has_two_contacts_and_an_unknown_header(rfc4475: Path) -> None:
    msg = parse(rfc4475, "esc02")
    assert header_values(msg.raw, "Contact") == [
        "<sip:alias1@host1.example.com>",
        "<sip:alias3@host3.example.com>",
    ]
    assert header_values(msg.raw, "C%6Fntact") == ["<sip:alias2@host2.example.com>"]
    assert msg.from_name == msg.to_name == "%Z%45"


def test_escnull_contacts_stay_distinct(rfc4475: Path) -> None:
    msg = parse(rfc4475, "escnull")
    uris = [parse_name_addr(v).uri for v in header_values(msg.raw, "m")]
    assert uris == ["sip:%00@host5.example.com", "sip:%00%00@host5.example.com"]
    assert msg.from_uri == msg.to_uri == "sip:null-%00-null@example.com"


def test_longreq_has_34_vias(rfc4475: Path) -> None:
    msg = parse(rfc4475, "longreq")
    vias = [parse_via(v) for v in header_values(msg.raw, "Via")]
    assert len(vias) == 34
    assert [v.sent_by for v in vias[:33]] == [f"sip{n}.example.com" for n in range(33, 0, -1)]
    assert vias[33].sent_by == "host.example.com"
    assert vias[33].params["received"] == "192.0.2.5"
    assert vias[33].branch == "very" + "long" * 50 + "branchvalue"
    assert msg.to_name.startswith("I have a user name of extremeextreme")
    assert msg.to_uri.startswith("sip:user@example.com:6000;unknownparam1=verylonglong")


def test_dblreq_ignores_the_trailing_invite(rfc4475: Path) -> None:
    raw = read(rfc4475, "dblreq")
    msg = parse(rfc4475, "dblreq")
    assert msg.raw.endswith(b"Content-Length: 0\r\n\r\n")
    assert b"INVITE" not in msg.raw
    # what the datagram held after it: a CRLF and a whole INVITE, which parses on its own
    rest = parse_message(raw[len(msg.raw) :], PKT)
    assert isinstance(rest, Message)
    assert (rest.method, rest.call_id, rest.cseq) == (
        "INVITE",
        "dblreq.0ha0isnda977644900765@192.0.2.15",
        "8 INVITE",
    )
    assert rest.to_uri == "sip:joe@example.com"  # compact "t:"


def test_mpart01_body_framed_by_content_length(rfc4475: Path) -> None:
    msg = parse(rfc4475, "mpart01")
    body = msg.body
    assert body.startswith(b"--7a9cbec02ceef655\r\n")
    assert body.endswith(b"\r\n--7a9cbec02ceef655--\r\n")
    # the binary part holds bare CR and LF octets, which did not end anything
    assert body.replace(b"\r\n", b"").count(b"\n") > 0
    assert body.replace(b"\r\n", b"").count(b"\r") > 0


def test_transports(rfc4475: Path) -> None:
    msg = parse(rfc4475, "transports")
    vias = [parse_via(v) for v in header_values(msg.raw, "Via")]
    assert [v.transport for v in vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert [v.sent_by for v in vias] == [f"t{n}.example.com" for n in range(1, 6)]


def test_semiuri_folded_accept(rfc4475: Path) -> None:
    msg = parse(rfc4475, "semiuri")
    assert header_values(msg.raw, "Accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def test_contact_params_inside_and_outside_the_brackets(rfc4475: Path) -> None:
    # cparam01: addr-spec, so ";unknownparam" is a Contact header parameter
    c1 = parse_name_addr(header_values(parse(rfc4475, "cparam01").raw, "Contact")[0])
    assert c1 == ("", "sip:+19725552222@gw1.example.net", {"unknownparam": None})
    # cparam02: inside <>, a URI parameter that stays in the URI
    c2 = parse_name_addr(header_values(parse(rfc4475, "cparam02").raw, "Contact")[0])
    assert c2 == ("", "sip:+19725552222@gw1.example.net;unknownparam", {})
    # regescrt: an escaped Route header inside the URI is part of the URI, not a header
    raw = parse(rfc4475, "regescrt").raw
    c3 = parse_name_addr(header_values(raw, "Contact")[0])
    assert c3.uri == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"
    assert header_values(raw, "Route") == []


def test_inv2543_body_is_the_rest_of_the_datagram(rfc4475: Path) -> None:
    raw = read(rfc4475, "inv2543")
    msg = parse(rfc4475, "inv2543")
    assert msg.body == raw[raw.index(b"\r\n\r\n") + 4 :]
    assert msg.body.startswith(b"v=0\r\n")
    assert msg.from_uri == "sip:+13035551111@ift.client.example.net;user=phone"
    # To is an addr-spec: ";user=phone" is a header parameter
    assert msg.to_uri == "sip:+16505552222@ss1.example.net"


def test_bcast_second_via(rfc4475: Path) -> None:
    vias = header_values(parse(rfc4475, "bcast").raw, "Via")
    assert parse_via(vias[1]).sent_by == "255.255.255.255"


def test_baddn_with_its_missing_crlf_restored(rfc4475: Path) -> None:
    raw = read(rfc4475, "baddn") + b"\r\n"
    msg = parse_message(raw, PKT)
    assert isinstance(msg, Message)
    assert msg.problems == (f"From: {DN_QUOTES}", f"To: {DN_QUOTES}")
    assert (msg.from_name, msg.to_name) == ("Bell, Alexander", "Watson, Thomas")
    assert msg.raw is raw


def test_quotbal_keeps_the_uri(rfc4475: Path) -> None:
    msg = parse(rfc4475, "quotbal")
    assert (msg.to_name, msg.to_uri) == ("Mr. J. User", "sip:j.user@example.com")
