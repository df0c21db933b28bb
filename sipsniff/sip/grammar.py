"""The SIP grammar (RFC 3261 section 25), as compiled patterns with the ABNF each one implements.

How this works: the patterns are compiled once at import and are deliberately *lenient*. A sniffer
looks at broken traffic, so they accept what a strict parser would refuse (extra whitespace, a
missing reason phrase, an odd SIP version) and leave it to ``parser`` to note what was wrong as a
problem of the message. Where a pattern is looser than its ABNF, the comment says how.

Basic rules used below (RFC 3261 section 25.1)::

    alphanum  =  ALPHA / DIGIT
    token     =  1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
    LWS       =  [*WSP CRLF] 1*WSP ; linear whitespace
    SWS       =  [LWS] ; sep whitespace
    HCOLON    =  *( SP / HTAB ) ":" SWS
    SEMI      =  SWS ";" SWS
    COMMA     =  SWS "," SWS
    LAQUOT    =  SWS "<"
    RAQUOT    =  ">" SWS
    quoted-string  =  SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
    qdtext         =  LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
    quoted-pair    =  "\\" (%x00-09 / %x0B-0C / %x0E-7F)
"""

from __future__ import annotations

import re
from typing import Final

TOKEN_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
"""The characters of ``token`` (RFC 3261 section 25.1)."""

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
TOKEN: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")

# display-name = *(token LWS) / quoted-string      -- the unquoted alternative, after unfolding
TOKENS_AND_SPACES: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~ \t]*")

# Request-Line  =  Method SP Request-URI SP SIP-Version CRLF
# SIP-Version   =  "SIP" "/" 1*DIGIT "." 1*DIGIT
# Lenient: the method is any run of non-whitespace, then any run of SP/HTAB (RFC 4475 3.1.2.9);
# the parser takes the SIP-Version from the end of the rest, so the Request-URI may hold
# whitespace (3.1.2.8) and trailing whitespace is allowed (3.1.2.10). Linear: no backtracking.
# Groups: method, the whitespace after it, the rest of the line.
REQUEST_LINE: Final = re.compile(r"([^ \t]+)([ \t]+)(.*)\Z", re.S)

# Status-Line   =  SIP-Version SP Status-Code SP Reason-Phrase CRLF
# Status-Code   =  3DIGIT   (Informational / Redirection / ... / extension-code)
# Reason-Phrase =  *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
# Lenient: any digits for the code (the parser checks the range), any whitespace around it, the SP
# before an empty reason phrase may be missing, the reason phrase is any text.
# Groups: version, status code, the whitespace after the code (None when absent), reason phrase.
STATUS_LINE: Final = re.compile(r"([Ss][Ii][Pp]/[^ \t]*)[ \t]+([0-9]+)(?:([ \t]+)(.*))?\Z", re.S)

# A start line, on the first line of a datagram (bytes): what ``looks_like_sip`` accepts.
#   Status-Line:  "SIP/" DIGIT ..., whitespace, a digit (the parser checks the code).
#   Request-Line: a method (any run of visible octets: fuzzed and PROTOS methods stay requests),
#                 whitespace, anything, whitespace and "SIP/" (the version may be mangled).
# The possessive quantifiers keep the match linear on long lines; the greedy scan finds the
# version at the end of the line at once.
START_LINE_BYTES: Final = re.compile(
    rb"(?:SIP/[0-9][^ \t\r\n]*+[ \t]++[0-9]"
    rb"|[!-~\x80-\xff]++[ \t]++[^\r\n]*[ \t]SIP/)"
)

# What makes a header section need the slow, lenient split: a folded line (a line break followed
# by SP or HTAB, RFC 3261 section 7.3.1) or a bare LF (a LF not preceded by CR).
ODD_LINE_BREAK: Final = re.compile(r"\n(?:[ \t]|(?<=[^\r]\n))")

# header folding: LWS = [*WSP CRLF] 1*WSP -- a line break followed by whitespace is one SP.
# (The bare-LF variant is accepted too; the parser notes bare LFs as a problem.)
FOLD: Final = re.compile(r"\r?\n[ \t]+")

# A line break, CRLF or (leniently) a bare LF.
LINE_BREAK: Final = re.compile(r"\r?\n")

# The empty line that ends the header section, when lines end in bare LFs (CRLF is found with
# bytes.find, much faster).
BLANK_LINE_BYTES: Final = re.compile(rb"\r?\n\r?\n")

# The common shapes of a From / To value, for the parser's fast path (anything else goes through
# the general, lenient ``headers.name_addr``):
#   name-addr  =  [ display-name ] LAQUOT addr-spec RAQUOT *( SEMI param )
#                 display-name a quoted-string without quoted-pairs, or tokens
#   addr-spec  *( SEMI param )   with a URI free of whitespace, "<>", ";", ",", "?" and quotes
# and parameters without whitespace, quotes or "<>". Groups: quoted display, token display, URI in <>,
# its params; URI of an addr-spec, its params.
NAME_ADDR_SIMPLE: Final = re.compile(
    r'(?:(?:"([^"\\]*)"[ \t]*|([A-Za-z0-9\-.!%*_+`\'~]++(?:[ \t]++[A-Za-z0-9\-.!%*_+`\'~]++)*+)?'
    r"[ \t]*)<([^<>\" \t]+)>((?:;[^; \t\"<>]+)*)"
    r'|([A-Za-z][A-Za-z0-9+.\-]*:[^<>" \t;,?]+)((?:;[^; \t"<>]+)*))\Z'
)

# quoted-string (after SWS): DQUOTE *(qdtext / quoted-pair) DQUOTE. Group 1: the text between the
# quotes, quoted-pairs still escaped.
QUOTED_STRING: Final = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)

# quoted-pair = "\" CHAR: the escaped character stands for itself.
QUOTED_PAIR: Final = re.compile(r"\\(.)", re.S)

# One element of a comma-separated header value (RFC 3261 section 7.3.1): commas inside a
# quoted-string or inside <> (a name-addr's URI) do not separate. An unterminated quote or "<"
# runs to the end of the value.
LIST_ITEM: Final = re.compile(r'(?:"(?:[^"\\]|\\.)*"?|<[^>]*>?|\\|[^,"<\\])+', re.S)

# via-parm          =  sent-protocol LWS sent-by *( SEMI via-params )
# sent-protocol     =  protocol-name SLASH protocol-version SLASH transport
# protocol-name     =  "SIP" / token
# protocol-version  =  token
# transport         =  "UDP" / "TCP" / "TLS" / "SCTP" / other-transport
# sent-by           =  host [ COLON port ]
# SLASH             =  SWS "/" SWS
# Groups: protocol-name, protocol-version, transport, sent-by (whitespace not removed yet), the
# parameters (from the first ";").
VIA_PARM: Final = re.compile(
    r"[ \t]*([^/ \t;]+)[ \t]*/[ \t]*([^/ \t;]+)[ \t]*/[ \t]*([^ \t;]+)[ \t]*([^;]*)(.*)\Z", re.S
)

MAX_CSEQ: Final = 2**32 - 1
"""RFC 3261 section 8.1.1.5: the CSeq sequence number MUST be less than 2**31 when chosen, and
section 25.1's 1*DIGIT is bounded by "a 32-bit unsigned integer" (RFC 4475 3.1.2.4)."""

MAX_DIGITS: Final = 40
"""Longest digit string converted with ``int`` (far above any legal value; the interpreter refuses
strings over 4300 digits, and the RFC 4475 scalar tests carry 101)."""
