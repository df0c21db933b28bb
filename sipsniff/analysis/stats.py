"""Figures of a trace: those of ``tshark -z sip,stat``, and call, registration and transaction KPIs.

How this works. ``tshark_figures`` replays, message by message, what Wireshark's SIP dissector feeds
its ``sip,stat`` tap (epan/dissectors/packet-sip.c and ui/cli/tap-sipstat.c, Wireshark 4.0), so
that its numbers can be compared with tshark's own:

* *messages*: every SIP message;
* *resent*: ``sip_is_packet_resend``. UDP only. One state per (Call-ID, source ip and port,
  destination ip and port): the CSeq number and method last seen, a transaction state and the
  last response code. A request is resent when its CSeq number is the stored one, a request was
  the last thing seen, the method is the stored one and is neither ACK nor CANCEL; a response is
  resent when the CSeq number and method are the stored ones, a final response was the last thing
  seen and the status is the same (>= 200). A new CSeq number resets the state;
* *setup time*: ``sip_find_invite``. For each ACK over UDP (CSeq method ACK), the time since the
  last original request seen in the same direction of the same Call-ID (normally its INVITE, but
  a CANCEL in between counts), in whole milliseconds as Wireshark truncates them; zero values are
  not counted; average = total // count;
* *status codes* and *methods*: counted as written (tshark folds codes it has no name for into
  x99 "... - Others": ``tshark_status`` does the same for a comparison).

``kpis`` measures what tshark does not, per dialog (sngrep's call: one Call-ID):

* calls: the dialogs that are calls (``Dialog.call``: an INVITE request, whatever came first, a
  REGISTER may share the Call-ID; or a capture that began mid-call), with their state and outcome
  as the correlator gave them (``correlate.states``): the same dialogs ``read --calls`` lists;
* post-dial delay: from the INVITE that went through to its first 18x: of the INVITE requests the
  caller sent (the source of the dialog's first INVITE), the first whose transaction got an 18x,
  from its first copy (RFC 6076 section 4.2 SRD; after a 401/407 challenge, the INVITE with
  credentials: the caller's own pause before it is not the network's delay);
* setup time: the same for the first 2xx (from the caller's INVITE whose transaction got it);
* duration: that 2xx to the first BYE after it (None when the capture ends first);
* ended by: ``caller`` when that BYE has the From tag of the caller's INVITE, else ``callee``;
* ASR: answered calls / calls not redirected (3xx) (RFC 6076 SER); SEER: the same with 480, 486,
  600 and 603 counted as effective (RFC 6076);
* registrations: per dialog, a chain of REGISTER transactions that ends with a final response
  other than 401/407 (a challenge) and 423 (Interval Too Brief: the client asks again, 10.2.8),
  or with nothing more; its delay runs from its first REGISTER to its 2xx (RFC 6076 RRD). A chain
  that removes bindings (Expires 0, every Contact ``expires=0``, or ``*``: 10.2.2) is an
  un-registration, counted apart;
* transaction response times: each original request to the first (and to the final) response to
  it, per method; p50 / p95 by nearest rank;
* top talkers by IP address; retransmissions (the correlator's: same transaction, direction, start
  line, CSeq and To tag, any transport) per method.

Pure: no IO. Times are integers of nanoseconds.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from sipsniff import fast_module
from sipsniff.analysis.part import Part
from sipsniff.correlate.states import ANSWERED, REDIRECTED
from sipsniff.model import Dialog, Endpoint, Entry, FiledMessage, Message, Payload, Trace
from sipsniff.sip.headers import bindings

# Wireshark's sip_response_code_vals (epan/dissectors/packet-sip.c): tshark's sip,stat prints a
# status code it knows under its own name, and folds the others into x99.
TSHARK_CODES: Final[dict[int, str]] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Informational - Others",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    299: "Success - Others",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    399: "Redirection - Others",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Timer Too Small",
    423: "Interval Too Brief",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    430: "Flow Failed",
    433: "Anonymity Disallowed",
    436: "Bad Identity-Info",
    437: "Unsupported Certificate",
    438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded",
    470: "Consent Needed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    499: "Client Error - Others",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    599: "Server Error - Others",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
    608: "Rejected",
    699: "Global Failure - Others",
    999: "Unknown response",
}

REASONS: Final[dict[int, str]] = {c: n for c, n in TSHARK_CODES.items() if c % 100 != 99}
"""Standard reason phrases (RFC 3261 and later) by status code."""


def tshark_status(code: int) -> int | None:
    """The row tshark's sip,stat counts ``code`` in: itself, its class's x99, or None (dropped)."""
    if code in TSHARK_CODES:
        return code
    if code < 100 or code >= 700:
        return None
    return code // 100 * 100 + 99


# -- tshark's sip,stat -------------------------------------------------------------------------


@dataclass(slots=True)
class _Flow:
    cseq: int
    method: str
    state: int
    frame_set: bool
    response_code: int = 0
    request_time_ns: int | None = None


_NOTHING, _REQUEST, _PROVISIONAL, _FINAL = 0, 1, 2, 3
_CSEQ_METHOD_SIZE: Final = 16  # MAX_CSEQ_METHOD_SIZE: g_strlcpy keeps 15 characters
_CALL_ID_SIZE: Final = 128  # MAX_CALL_ID_SIZE
_SipStat = tuple[int, int, list[int], dict[str, int], dict[int, int], list[int]]
"""What ``_faststats.sip_stat`` gives: messages, resent, their frames, methods, codes, setup times."""


_faststats = fast_module("analysis._faststats")
FAST_SIP_STAT: Final[Callable[..., _SipStat | None] | None] = (
    None if _faststats is None else _faststats.sip_stat
)
"""``_faststats.sip_stat`` (``analysis/_faststats.c``), or None (``fast_module``)."""
_STAT_FIELDS: Final = tuple(
    [
        Message._fields.index(f)
        for f in ("pkt", "method", "status", "call_id", "cseq_num", "cseq_method")
    ]
    + [Payload._fields.index(f) for f in ("frame", "ts_ns", "src", "dst", "transport")]
    + [len(Message._fields)]
)
"""Where ``_faststats.sip_stat`` finds what it reads in a message, then in its ``pkt``, then
where a ``FiledMessage`` holds its frame, time and endpoints (``model.FiledMessage.frame``)."""


@dataclass(slots=True)
class TsharkFigures:
    """What ``tshark -q -z sip,stat`` prints, computed the way it does."""

    messages: int = 0
    resent: int = 0
    resent_frames: array[int] = field(default_factory=lambda: array("q"))
    methods: Counter[str] = field(default_factory=Counter)
    status_codes: Counter[int] = field(default_factory=Counter)
    setup_times_ms: array[int] = field(default_factory=lambda: array("q"))
    """One per ACK over UDP that found its INVITE, zero values left out (as tshark does)."""

    def merge(self, other: TsharkFigures) -> None:
        """Add the figures of other dialogs (tshark's state is per Call-ID: they add up)."""
        self.messages += other.messages
        self.resent += other.resent
        self.resent_frames += other.resent_frames
        self.methods.update(other.methods)
        self.status_codes.update(other.status_codes)
        self.setup_times_ms += other.setup_times_ms

    @property
    def setup_avg_ms(self) -> int:
        return sum(self.setup_times_ms) // len(self.setup_times_ms) if self.setup_times_ms else 0

    @property
    def setup_min_ms(self) -> int:
        return min(self.setup_times_ms, default=0)

    @property
    def setup_max_ms(self) -> int:
        return max(self.setup_times_ms, default=0)

    def tshark_rows(self) -> dict[int, int]:
        """Status code counts as tshark's table shows them (unknown codes folded into x99)."""
        rows: Counter[int] = Counter()
        for code, n in self.status_codes.items():
            row = tshark_status(code)
            if row is not None:
                rows[row] += n
        return dict(rows)


def _ms_between(later_ns: int, earlier_ns: int) -> int:
    """Wireshark's ``secs * 1000 + nsecs / 1000000``, C integer division (toward zero)."""
    secs = later_ns // 1_000_000_000 - earlier_ns // 1_000_000_000
    nsecs = later_ns % 1_000_000_000 - earlier_ns % 1_000_000_000
    return secs * 1000 + int(nsecs / 1_000_000)


def tshark_figures(entries: Iterable[Message]) -> TsharkFigures:
    """Replay the ``sip,stat`` tap over ``entries`` (capture order): in C where it was built
    (``_faststats.c``), else ``_py_tshark_figures``."""
    if FAST_SIP_STAT is not None:
        if isinstance(entries, Iterator):  # read again by Python if C gives up
            entries = list(entries)
        done = FAST_SIP_STAT(entries, _STAT_FIELDS, FiledMessage, _CALL_ID_SIZE, _CSEQ_METHOD_SIZE)
        if done is not None:
            out = TsharkFigures()
            out.messages, out.resent, resent_frames, methods, codes, setup_times = done
            out.resent_frames.extend(resent_frames)
            out.methods.update(methods)
            out.status_codes.update(codes)
            out.setup_times_ms.extend(setup_times)
            return out
    return _py_tshark_figures(entries)


def _py_tshark_figures(entries: Iterable[Message]) -> TsharkFigures:
    """``tshark_figures`` in Python alone: the reference of ``_faststats.sip_stat``."""
    out = TsharkFigures()
    flows: dict[tuple[str, Endpoint, Endpoint], _Flow] = {}
    """(Call-ID, source, destination) -> its state."""
    methods: dict[str, int] = {}
    codes: dict[int, int] = {}
    setup_times = out.setup_times_ms
    resent_frames = out.resent_frames
    messages = 0
    for e in entries:
        m = e
        messages += 1
        status = m.status
        if status is not None:
            codes[status] = codes.get(status, 0) + 1
        elif m.method is not None:
            methods[m.method] = methods.get(m.method, 0) + 1
        cseq_num = m.cseq_num
        if m.transport != "udp" or cseq_num is None:
            continue
        # cut as Wireshark stores them (most are short: not copied then)
        method = m.cseq_method
        if len(method) >= _CSEQ_METHOD_SIZE:
            method = method[: _CSEQ_METHOD_SIZE - 1]
        call_id = m.call_id
        if len(call_id) >= _CALL_ID_SIZE:
            call_id = call_id[: _CALL_ID_SIZE - 1]
        key = (call_id, m.src, m.dst)
        flow = flows.get(key)
        is_request = status is None
        ts_ns = m.ts_ns
        # sip_find_invite: an ACK's setup time, before the ACK itself updates the state
        if is_request and method == "ACK" and flow is not None:
            start = flow.request_time_ns
            if start is not None:
                ms = _ms_between(ts_ns, start) & 0xFFFFFFFF
                if ms:
                    setup_times.append(ms)
        # sip_is_packet_resend
        if flow is None:
            flow = _Flow(cseq_num, method, _NOTHING, False)
            if is_request:
                flow.request_time_ns = ts_ns
            flows[key] = flow
            compare = 0
        else:
            compare = flow.cseq
            if cseq_num != compare:
                flow.cseq = cseq_num
                flow.method = method
                flow.state = _NOTHING
                flow.frame_set = False
                if is_request:
                    flow.request_time_ns = ts_ns
        if status is None:
            resent = (
                cseq_num == compare
                and flow.state == _REQUEST
                and method == flow.method
                and method not in ("ACK", "CANCEL")
            )
            flow.state = _REQUEST
            if not resent:
                flow.request_time_ns = ts_ns
        else:
            resent = (
                cseq_num == compare
                and flow.state == _FINAL
                and method == flow.method
                and status >= 200
                and status == flow.response_code
            )
            if status >= 200:
                flow.response_code = status
                flow.state = _FINAL
            else:
                flow.state = _PROVISIONAL
        if resent:
            out.resent += 1
            resent_frames.append(m.frame)
    out.messages = messages
    # counted in order of first sight, as Counter's += 1 counted them
    out.methods.update(methods)
    out.status_codes.update(codes)
    return out


# -- KPIs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spread:
    """A distribution of durations (nanoseconds): count, p50, p95 (nearest rank), max."""

    count: int
    p50: int | None
    p95: int | None
    max: int | None
    mean: int | None

    @classmethod
    def of(cls, values: Sequence[int]) -> Spread:
        if not values:
            return cls(0, None, None, None, None)
        s = sorted(values)
        return cls(len(s), nearest_rank(s, 0.5), nearest_rank(s, 0.95), s[-1], sum(s) // len(s))


def nearest_rank(ordered: Sequence[int], q: float) -> int:
    """The nearest-rank percentile: the ceil(q * n)-th smallest value (1-based), n >= 1."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class CallKpi(NamedTuple):
    """One call (``Dialog.call``). A ``NamedTuple``: one per call of a capture of any size, made
    several times faster than a frozen dataclass."""

    dialog: int
    """Its ``Dialog.id``."""
    call_id: str
    start_ns: int
    """Time of its first INVITE (of its first message when no INVITE was captured)."""
    state: str
    """``Dialog.state``: COMPLETED, REJECTED 486..."""
    outcome: str
    """``Dialog.outcome``: answered, busy, cancelled... (``correlate.states.OUTCOMES``)."""
    pdd_ns: int | None
    """Post-dial delay: the caller's INVITE that went through to its first 18x (module doc)."""
    setup_ns: int | None
    """The caller's INVITE that got the 2xx to that 2xx."""
    duration_ns: int | None
    """The 2xx to the first BYE after it."""
    status: int | None
    """The 2xx when answered, else the last final response to an INVITE; None when none came."""
    ended_by: str | None
    """Who sent the first BYE after the answer: ``caller`` or ``callee``; None without one."""

    @property
    def answered(self) -> bool:
        return self.outcome == ANSWERED

    @property
    def ended_by_bye(self) -> bool:
        return self.ended_by is not None


@dataclass(frozen=True, slots=True)
class Registration:
    """One registration: REGISTER transactions of a dialog up to a final answer not 401/407."""

    dialog: int
    """Its ``Dialog.id``."""
    first_frame: int
    requests: int
    """REGISTER transactions in it (2 for a challenge answered)."""
    outcome: int | None
    """The last final response; None when the last REGISTER got none."""
    delay_ns: int | None
    """First REGISTER to the 2xx (None unless it succeeded)."""
    removal: bool = False
    """An un-registration (the REGISTER asked to remove bindings, RFC 3261 section 10.2.2)."""

    @property
    def succeeded(self) -> bool:
        return self.outcome is not None and 200 <= self.outcome < 300


@dataclass(slots=True)
class MethodTimes:
    first: array[int] = field(default_factory=lambda: array("q"))
    """Request to its first response (100 Trying included)."""
    final: array[int] = field(default_factory=lambda: array("q"))
    """Request to its first final response."""
    unanswered: int = 0


@dataclass(slots=True)
class Talker:
    ip: str
    sent: int = 0
    received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.received


@dataclass(slots=True)
class Stats:
    tshark: TsharkFigures
    calls: list[CallKpi]
    registrations: list[Registration]
    response_times: dict[str, MethodTimes]
    talkers: list[Talker]
    retransmissions: dict[str, tuple[int, int]]
    """Method -> (retransmitted requests, retransmitted responses by CSeq method)."""
    requests: int
    responses: int
    reasons: dict[int, str] = field(default_factory=dict)
    """The reason phrase first seen with each status code."""

    @property
    def answered(self) -> int:
        return sum(1 for c in self.calls if c.answered)

    @property
    def asr(self) -> float | None:
        """Answered / attempts not redirected, in percent (RFC 6076 SER)."""
        base = [c for c in self.calls if c.outcome != REDIRECTED]
        if not base:
            return None
        return 100.0 * sum(1 for c in base if c.answered) / len(base)

    @property
    def seer(self) -> float | None:
        """Like ASR, with 480, 486, 600 and 603 counted as effective too (RFC 6076 SEER)."""
        base = [c for c in self.calls if c.outcome != REDIRECTED]
        if not base:
            return None
        ok = sum(1 for c in base if c.answered or c.status in (480, 486, 600, 603))
        return 100.0 * ok / len(base)

    @property
    def post_dial_delay(self) -> Spread:
        """INVITE to the first 18x, of the calls that got one."""
        return Spread.of([c.pdd_ns for c in self.calls if c.pdd_ns is not None])

    @property
    def setup_time(self) -> Spread:
        """INVITE to the 2xx, of the calls answered."""
        return Spread.of([c.setup_ns for c in self.calls if c.setup_ns is not None])

    @property
    def call_duration(self) -> Spread:
        """2xx to BYE, of the calls that ended."""
        return Spread.of([c.duration_ns for c in self.calls if c.duration_ns is not None])

    @property
    def registration_delay(self) -> Spread:
        """First REGISTER to its 2xx, of registrations (un-registrations left out)."""
        return Spread.of(
            [r.delay_ns for r in self.registrations if not r.removal and r.delay_ns is not None]
        )

    @property
    def registration_success(self) -> float | None:
        """Registrations that ended with a 2xx, in percent of those that ended at all
        (un-registrations left out)."""
        done = [r for r in self.registrations if r.outcome is not None and not r.removal]
        if not done:
            return None
        return 100.0 * sum(1 for r in done if r.succeeded) / len(done)


def _responses_to(part: Part, e: Entry) -> tuple[Entry | None, Entry | None]:
    """The first response and the first final response to the request ``e`` (with its CSeq
    method as written)."""
    method = e.cseq_method
    first = None
    for r in part.responses(e):
        rm = r
        if rm.cseq_method != method:
            continue
        if first is None:
            first = r
        if rm.status >= 200:  # type: ignore[operator]  # a response
            return first, r
    return first, None


class CallTiming(NamedTuple):
    """The messages a call's KPIs are measured between (module docstring); None where absent."""

    invite: Entry | None
    """The caller's first INVITE."""
    rang: tuple[Entry, Entry] | None
    """The caller's INVITE that went through (first copy) and its first 18x."""
    answered: tuple[Entry, Entry] | None
    """The caller's INVITE that got the 2xx (first copy) and that 2xx."""
    bye: Entry | None
    """The first BYE after the 2xx."""
    ended_by: str | None
    """``caller`` when that BYE has the caller's From tag, else ``callee``; None without one."""
    status: int | None
    """The 2xx, else the last final response to an INVITE; None when none came."""


def call_timing(trace: Trace, d: Dialog) -> CallTiming:
    """Where the post-dial delay, setup time and duration of a call are measured."""
    entries = trace.entries
    invite: Entry | None = None
    caller: Endpoint | None = None
    sent: dict[int, Entry] = {}
    """The caller's INVITE transactions -> the request's first copy."""
    rang = answered = None
    bye: Entry | None = None
    ended_by: str | None = None
    status: int | None = None
    for i in d.messages:
        e = entries[i]
        if e.retransmission_of is not None:
            continue
        m = e
        method = m.method
        if method is not None:
            upper = method.upper()
            if upper == "INVITE" and answered is None:
                src = m.src
                if invite is None:
                    invite, caller = e, src
                if src == caller:
                    sent.setdefault(e.transaction, e)
            elif upper == "BYE" and answered is not None and bye is None:
                bye = e
                ended_by = "caller" if invite and m.from_tag == invite.from_tag else "callee"
            continue
        code = m.status
        if code is None or m.cseq_method.upper() != "INVITE":
            continue
        asked = sent.get(e.transaction)
        if 180 <= code < 190 and rang is None and asked is not None:
            rang = (asked, e)
        if code >= 200 and answered is None:
            if code < 300 and asked is not None:
                answered = (asked, e)
            if invite is not None:
                status = code
    return CallTiming(invite, rang, answered, bye, ended_by, status)


def timing(part: Part, d: Dialog) -> CallTiming:
    """``call_timing`` of ``d``, worked out once per part (the KPIs and ``slow-pdd`` ask)."""
    found = part.timings.get(d.id)
    if found is None:
        found = part.timings[d.id] = call_timing(part.trace, d)
    return found


def _call(part: Part, d: Dialog) -> CallKpi | None:
    if not d.call:
        return None
    t = timing(part, d)
    rang, answered = t.rang, t.answered
    duration = None
    if answered is not None and t.bye is not None:
        duration = t.bye.ts_ns - answered[1].ts_ns
    return CallKpi(
        dialog=d.id,
        call_id=d.call_id,
        start_ns=d.start_ns if t.invite is None else t.invite.ts_ns,
        state=d.state,
        outcome=d.outcome,
        pdd_ns=None if rang is None else rang[1].ts_ns - rang[0].ts_ns,
        setup_ns=None if answered is None else answered[1].ts_ns - answered[0].ts_ns,
        duration_ns=duration,
        status=t.status,
        ended_by=t.ended_by,
    )


_GOES_ON: Final = frozenset({401, 407, 423})
"""Final responses to a REGISTER that the client answers with another REGISTER: a challenge
(22.2), Interval Too Brief (10.2.8)."""


def _registrations(part: Part, d: Dialog, registers: list[Entry]) -> list[Registration]:
    """The registrations of ``d``, from its REGISTER requests (first copies, capture order)."""
    out: list[Registration] = []
    chain: list[Entry] = []
    outcome: int | None = None
    final: Entry | None = None
    for e in registers:
        m = e
        if chain and _removes(m) != _removes(chain[0]):
            # a registration then an un-registration in one Call-ID: two chains
            out.append(_registration(d, chain, final))
            chain = []
        _, final = _responses_to(part, e)
        chain.append(e)
        outcome = None if final is None else final.status
        if outcome is not None and outcome not in _GOES_ON:
            out.append(_registration(d, chain, final))
            chain = []
    if chain:
        # the last REGISTER got no final answer, or a challenge nobody answered
        out.append(_registration(d, chain, final))
    return out


def _removes(msg: Message) -> bool:
    """Whether a REGISTER asks to remove its bindings (RFC 3261 section 10.2.2): Contact ``*``,
    or every Contact with ``expires=0``, or none with an expiry and an Expires of 0."""
    contacts, expires = bindings(msg.raw)
    if not contacts:
        return False  # a query (10.2.3)
    if any(c.uri == "*" for c in contacts):
        return True
    return all((expires if c.expires is None else c.expires) == 0 for c in contacts)


def _registration(d: Dialog, chain: list[Entry], final: Entry | None) -> Registration:
    status = None if final is None else final.status
    delay = None
    if final is not None and status is not None and 200 <= status < 300:
        delay = final.ts_ns - chain[0].ts_ns
    return Registration(d.id, chain[0].frame, len(chain), status, delay, _removes(chain[0]))


class KpiTotals:
    """The figures of ``kpis`` summed over traces of other dialogs: a capture too big to hold,
    given a part at a time (``Correlator.expire_trace``). Per dialog and per Call-ID, every figure
    adds up; what grows with the capture is 8 bytes per measured time and a row per call."""

    def __init__(self) -> None:
        self.tshark = TsharkFigures()
        self.calls: list[CallKpi] = []
        self.registrations: list[Registration] = []
        self.times: dict[str, MethodTimes] = {}
        self.talkers: dict[str, Talker] = {}
        self.retrans: dict[str, list[int]] = {}
        self.requests = 0
        self.responses = 0
        self.reasons: dict[int, tuple[int, str]] = {}
        """Status code -> time and reason phrase of its first response."""

    def add(
        self, trace: Trace, dialogs: Sequence[Dialog] | None = None, *, part: Part | None = None
    ) -> None:
        """Take in ``dialogs`` of ``trace`` (all of its dialogs when None).

        Args:
            part: ``trace`` as a ``Part`` the findings and the peers table read too (one of its
                own when None).
        """
        part = Part(trace) if part is None else part
        chosen = list(trace.dialogs.values()) if dialogs is None else list(dialogs)
        entries: Iterable[Entry]
        if dialogs is None:
            entries = trace.entries.values()
        else:
            keep = {d.id for d in chosen}
            entries = [e for e in trace.entries.values() if e.dialog in keep]
        times = self.times
        talkers = self.talkers
        retrans = self.retrans
        reasons = self.reasons
        registers: dict[int, list[Entry]] = {}
        """``Dialog.id`` -> its REGISTER requests (first copies), for ``_registrations``."""
        pairs: dict[tuple[str, str], list[int]] = {}
        """(source IP, destination IP) -> [messages, bytes]: added to ``talkers`` after."""
        requests = responses = 0
        for e in entries:
            m = e
            ts_ns = m.ts_ns
            size = m.size
            key = (m.src.ip, m.dst.ip)
            pair = pairs.get(key)
            if pair is None:
                pairs[key] = [1, size]
            else:
                pair[0] += 1
                pair[1] += size
            method = m.method
            if method is not None:
                requests += 1
            else:
                responses += 1
                status: int = m.status  # type: ignore[assignment]  # a response
                seen = reasons.get(status)
                if seen is None or ts_ns < seen[0]:
                    reasons[status] = (ts_ns, m.reason or "")
            if e.retransmission_of is not None:
                name = method if method is not None else m.cseq_method
                counts = retrans.setdefault(name.upper(), [0, 0])
                counts[0 if method is not None else 1] += 1
                continue
            if method is None:
                continue
            upper = method.upper()
            if upper == "ACK":
                continue
            if upper == "REGISTER":
                registers.setdefault(e.dialog, []).append(e)
            first, final = _responses_to(part, e)
            t = times.get(upper)
            if t is None:
                t = times[upper] = MethodTimes()
            if first is not None:
                t.first.append(first.ts_ns - ts_ns)
            if final is not None:
                t.final.append(final.ts_ns - ts_ns)
            else:
                t.unanswered += 1
        for (src_ip, dst_ip), (count, size) in pairs.items():
            src = talkers.get(src_ip)
            if src is None:
                src = talkers[src_ip] = Talker(src_ip)
            dst = talkers.get(dst_ip)
            if dst is None:
                dst = talkers[dst_ip] = Talker(dst_ip)
            src.sent += count
            src.bytes_sent += size
            dst.received += count
            dst.bytes_received += size
        self.requests += requests
        self.responses += responses
        for d in chosen:
            call = _call(part, d)
            if call is not None:
                self.calls.append(call)
            found = registers.get(d.id)
            if found:
                self.registrations += _registrations(part, d, found)
        self.tshark.merge(tshark_figures(entries))

    def result(self, *, top: int = 10) -> Stats:
        """The figures so far; ``top``: how many talkers to keep."""
        ranked = sorted(self.talkers.values(), key=lambda t: (-t.total, -t.bytes_sent, t.ip))
        return Stats(
            tshark=self.tshark,
            # parts of a capture come in the order their dialogs ended: back to dialog order
            calls=sorted(self.calls, key=lambda c: c.dialog),
            registrations=sorted(self.registrations, key=lambda r: r.dialog),
            response_times=dict(sorted(self.times.items())),
            talkers=ranked[:top],
            retransmissions={k: (v[0], v[1]) for k, v in sorted(self.retrans.items())},
            requests=self.requests,
            responses=self.responses,
            reasons={code: reason for code, (_, reason) in sorted(self.reasons.items())},
        )


def kpis(trace: Trace, dialogs: Sequence[Dialog] | None = None, *, top: int = 10) -> Stats:
    """Every figure of ``sipsniff stats`` for ``dialogs`` (all of the trace's when None).

    Args:
        top: how many talkers to keep.
    """
    totals = KpiTotals()
    totals.add(trace, dialogs)
    return totals.result(top=top)
