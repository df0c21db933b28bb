"""Correlation: SIP messages in, transactions and dialogs out, one message at a time.

How this works. ``Correlator.add`` places each message, in capture order, with a handful of dict
look-ups (no scan of earlier messages, no sorting):

1. Its *dialog* is the one of its Call-ID (sngrep's "call": one line in the call list per Call-ID),
   opened by its first message.
2. Its *transaction* is found by a key (the matching table below: RFC 3261 sections 17.1.3 and
   17.2.3, RFC 2543 rules as the fallback) in a dict of its dialog; an ACK of a non-2xx final
   response and a CANCEL join their INVITE's.
3. It is a *retransmission* when its dialog already holds the same message: same transaction, same
   direction (source and destination), same method or status, same CSeq, same To tag (and, for a
   provisional response, the same bytes: a reliable 1xx has a new RSeq).
4. The dialog's *state* moves on by the tables of ``states``.
5. The first request of a dialog is probed for link headers (X-Call-ID, X-CID...) naming the Call-ID
   of another leg of the same call (a B2BUA's); the two are linked as soon as both have been seen.

No IO and no clock: time is the messages' timestamps. ``finish`` says the capture is over: requests
still unanswered become NO RESPONSE.
"""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping, Sequence
from typing import Final

from sipsniff import fast_module
from sipsniff.correlate import states
from sipsniff.correlate.tables import new_table
from sipsniff.model import Dialog, Endpoint, Entry, Message, Trace, Transaction
from sipsniff.sip.headers import bindings, parse_headers
from sipsniff.sip.parser import MAKE_ENTRY

COOKIE: Final = "z9hG4bK"
"""RFC 3261 section 8.1.1.7: branches of compliant elements start with it."""

DEFAULT_LINK_HEADERS: Final = ("X-Call-ID", "X-CID")


# -- transaction matching ----------------------------------------------------------------------
# One table: how a message finds its transaction. Keys live in a dict per dialog, so a branch
# reused under another Call-ID never mixes two calls.
#
#   RFC 3261 (top Via branch starts with "z9hG4bK" and has more after it, section 8.1.1.7):
#     request   (branch, sent-by, CSeq method)          17.2.3: branch, sent-by and method match
#     response  (branch, sent-by, CSeq method)          17.1.3: branch and CSeq method match
#                                                       (sent-by too: same top Via)
#   RFC 2543 (no branch, no cookie, or the bare cookie: RFC 4475 section 3.2.1 "badbranch"):
#     request   (Request-URI, From tag, Call-ID, CSeq number, CSeq method, sent-by)
#                                                       17.2.3 "backwards compatibility", without
#                                                       the To tag: a retransmitted INVITE has none
#     response  (From tag, Call-ID, CSeq number, CSeq method, sent-by)
#                                                       a response carries no Request-URI; the To
#                                                       tag differs between forks, so left out
#   The keys are 3, 6 and 5 strings long: they cannot collide in one dict. The first RFC 3261
#   transaction of a branch is filed under the branch alone (a str, the message's own: no tuple
#   of 64 bytes per transaction, 5.8 MB for 30,000 calls), and its sent-by and method are those
#   of the transaction itself (its method, its first message's sent-by: ``_tx_3261``); a key
#   that shares the branch and not the rest (a CANCEL, the ACK of a non-2xx, a branch reused)
#   is filed as the whole tuple.
#
# JOINS: requests (and their responses) that belong with the transaction of another method.
JOINS: Final[dict[str, str]] = {
    # 17.1.1.3: the ACK of a 3xx-6xx final response is part of the INVITE transaction and has
    # its branch (3261) / its Request-URI, From tag, Call-ID, CSeq number and sent-by, and the To
    # tag of the final response (2543, 17.2.3). The ACK of a 2xx is a transaction of its own
    # (13.2.2.4, new branch): an ACK never joins an INVITE transaction whose final was a 2xx.
    "ACK": "INVITE",
    # 9.1: a CANCEL has the branch of the INVITE it cancels. In RFC terms it is a transaction of
    # its own (9.2); for display it belongs with its INVITE, and so does its 200: one
    # ``Transaction`` (key and method the INVITE's) holds INVITE, CANCEL, their responses and the
    # ACK. ``Transaction.final`` is the first final response to the INVITE, never the CANCEL's 200.
    "CANCEL": "INVITE",
}

_CREDENTIALS: Final = re.compile(rb"\n(?i:authorization|proxy-authorization)[ \t]*:")
"""An Authorization or Proxy-Authorization header (RFC 3261 sections 20.7, 20.28): the request
carries credentials (searched in the header block of requests that move a dialog's state). A
header line follows a line feed (the start line is no header): with that literal first, the search
skips from one line feed to the next, three times faster than ``^`` in multiline mode."""
_STALE: Final = re.compile(rb"\bstale[ \t]*=[ \t]*\"?true", re.IGNORECASE)
"""``stale=true`` in a challenge (RFC 7616 section 3.3): the nonce was old, the credentials right."""

_NO_DIALOG_TAG: Final = frozenset({"ACK", "REGISTER"})
"""Requests whose To tag says nothing new of the dialog: an ACK repeats the tag of the response
it acknowledges (a 2xx's is known from the 2xx; a 407's is none, and some WebRTC stacks send that
ACK with a new branch, outside the INVITE transaction); a REGISTER is in no dialog."""

DIALOG_METHODS: Final = frozenset({"INVITE", "SUBSCRIBE", "REFER"})
"""Requests whose 101-299 responses create (early) dialogs: RFC 3261 section 12.1, RFC 6665, RFC
3515. Only their To tags count as forks; a 401's tag or a registrar's do not."""


OVER_CALL: Final = frozenset(
    {states.COMPLETED, states.CANCELLED, states.REJECTED, states.AUTH_FAILED, states.CHALLENGED}
)
"""Phases in which a call is over: nothing more is expected (``expire`` may drop it)."""
OVER_OTHER: Final = frozenset({states.DONE, states.FAILED, states.AUTH_FAILED, states.CHALLENGED})
"""Phases in which another dialog (a registration, an OPTIONS ping...) is over."""


class _State:
    """What the correlator keeps per dialog besides the ``Dialog`` itself."""

    __slots__ = (
        "call",
        "caller",
        "caller_tags",
        "code",
        "copies",
        "dialog",
        "expires",
        "last_status",
        "method",
        "phase",
        "requested",
        "responded",
        "tag_set",
        "txs",
    )

    def __init__(self, dialog: Dialog, caller_tag: str | None) -> None:
        self.dialog = dialog
        self.txs: dict[str | tuple[str | None, ...], int] = {}
        """Transaction keys (and the keys that join them) -> index in ``transactions``: the
        first RFC 3261 key of a branch as the branch alone (the table above)."""
        self.copies: dict[int, dict[tuple[object, ...], int]] | None = None
        """Transactions of more than ``SCAN`` messages (copies of copies: a flood, a lossy
        link) -> signature -> the message later copies of it repeat (``Correlator._repeats``)."""
        self.call = False
        """Whether the dialog follows the call table (it carries an INVITE)."""
        self.method = dialog.first_method
        """The method that drives a non-call dialog's state."""
        self.phase: states.Phase = states.PENDING
        self.code = 0
        self.expires: int | None = None
        self.requested = False
        self.responded = False
        """In a call: whether its latest INVITE got any response (100 Trying too)."""
        self.caller: Endpoint | None = None
        """In a call: the source of its first INVITE; INVITEs from elsewhere are relayed."""
        self.last_status = 0
        self.tag_set: set[str] | None = None
        """``dialog.to_tags`` as a set, once it is long (a scan in one Call-ID can make it so)."""
        self.caller_tags: tuple[str, ...] = (caller_tag,) if caller_tag else ()
        """From tags of initial requests (no To tag) and of a first message that is a response:
        the callers'. A tuple of str, which the garbage collector stops tracking."""


def _add_tag(st: _State, tag: str) -> None:
    """Append ``tag`` to the dialog's ``to_tags`` unless it is there."""
    tags = st.dialog.to_tags
    known = st.tag_set
    if known is None:
        if tag in tags:
            return
        if len(tags) >= 8:
            st.tag_set = known = set(tags)
    elif tag in known:
        return
    if known is not None:
        known.add(tag)
    tags.append(tag)


SCAN: Final = 16
"""A transaction's messages looked through, latest first, for the one a new message repeats;
past this many, its signatures are filed (``_State.copies``)."""


def _signature(ti: int, msg: Message) -> tuple[object, ...]:
    """What a retransmission repeats: its transaction (index ``ti``), its start line, CSeq and
    To tag, and the addresses it went between."""
    src, dst = msg.src, msg.dst
    status = msg.status
    if status is None:
        return (ti, msg.method, msg.cseq_num, msg.to_tag, src.ip, src.port, dst.ip, dst.port)
    method = msg.cseq_method or msg.method or ""
    return (ti, status, msg.cseq_num, method, msg.to_tag, src.ip, src.port, dst.ip, dst.port)


class Correlator:
    """Places messages in transactions and dialogs, incrementally (live capture or a file).

    Args:
        link_headers: names of headers whose value is the Call-ID of another leg of the same call.
    """

    def __init__(self, *, link_headers: Sequence[str] = DEFAULT_LINK_HEADERS) -> None:
        self.entries: MutableMapping[int, Entry] = new_table()
        """Every message held, by ``Entry.id``, in the order added (``tables.new_table``: ids
        come in increasing order)."""
        self.dialogs: MutableMapping[int, Dialog] = new_table()
        """Every dialog held, by ``Dialog.id``, in order of their first message."""
        self.transactions: MutableMapping[int, Transaction] = new_table()
        """Every transaction held, by ``Transaction.id``."""
        self.added = 0
        """Messages added so far, dropped ones included: the last ``Entry.id``."""
        self.created = 0
        """Transactions created so far, dropped ones included: the last ``Transaction.id``."""
        self._states: dict[str, _State] = {}
        names = [n.strip() for n in link_headers if n.strip()]
        self._link_names = frozenset(n.lower() for n in names)
        self._link_probe = _link_probe(names)
        self._awaited: dict[str, list[int]] = {}
        """Call-ID named by a link header but not seen yet -> dialogs that named it."""
        self.expired_dialogs = 0
        """Dialogs dropped by ``expire``."""
        self.expired_messages = 0
        """Messages of the dialogs dropped by ``expire``."""
        self.expired_states: dict[str, int] = {}
        """Dialogs dropped by ``expire``, by their state then."""
        self.expired_early = 0
        """Dialogs dropped by ``expire`` that were not over (silent, or beyond ``max_dialogs``)."""
        self.opened = 0
        """Dialogs opened so far, dropped ones included: the last ``Dialog.id``."""
        self.first_ns: int | None = None
        """The time of the earliest message so far, dropped ones included: when the run began."""
        self._finished = False
        """``finish`` was called: a dialog touched again gets a live state again."""

    # -- public ------------------------------------------------------------------------------
    def add(self, msg: Message) -> Entry:
        """Place one message; returns its entry. Dialog states are current after each call."""
        self.added += 1
        index = self.added
        frame = msg.frame
        if index == frame:
            # One int for both: where every frame holds one SIP message (a capture of SIP
            # alone, the usual kind) each entry's id is its frame number, an int of 32 bytes
            # held by each message twice otherwise (5.8 MB of 180,000 messages).
            index = self.added = frame
        earliest = self.first_ns
        if earliest is None or msg.ts_ns < earliest:
            self.first_ns = msg.ts_ns
        st = self._states.get(msg.call_id)
        if st is None:
            st = self._open(msg)
        dialog = st.dialog
        status = msg.status
        method = msg.cseq_method or msg.method or ""

        # Transaction (see the table above).
        branch = msg.branch
        if branch is not None and len(branch) > 7 and branch.startswith(COOKIE):
            ti = self._tx_3261(st.txs, branch, msg.sent_by, method)
            if ti is None:
                ti = self._miss_3261(st, msg, branch, method)
        else:
            ti = self._match_2543(st, msg, method)
        tx = self.transactions[ti]

        # Retransmission: the same message in the same transaction, the same direction: the same
        # ``_signature`` (made here from what is at hand; tests/correlate/
        # test_retransmission_search.py fails when the two differ), as an earlier message of the
        # transaction that is no copy itself.
        src, dst = msg.src, msg.dst
        to_tag = msg.to_tag
        sig: tuple[object, ...]
        if status is None:
            if tx.request is None and method == tx.method:
                tx.request = index
            sig = (ti, msg.method, msg.cseq_num, to_tag, src.ip, src.port, dst.ip, dst.port)
        else:
            if status >= 200 and tx.final is None and method == tx.method:
                tx.final = index
            sig = (ti, status, msg.cseq_num, method, to_tag, src.ip, src.port, dst.ip, dst.port)
        earlier = tx.messages
        copies = st.copies
        filed = None if copies is None else copies.get(ti)
        if filed is None and len(earlier) >= SCAN:
            filed = self._file_copies(st, ti, earlier)
        first = None
        if filed is not None:
            first = filed.get(sig)
        else:
            entries = self.entries
            for j in reversed(earlier):
                e = entries[j]
                if e.retransmission_of is None and e.status == status and _signature(ti, e) == sig:
                    first = j
                    break
        if first is not None:
            if status is not None and status < 200 and self.entries[first].raw != msg.raw:
                # Another provisional response with different content (a reliable 1xx with its
                # own RSeq, RFC 3262; a 183 with new SDP): new, and what later copies repeat.
                first = None
            else:
                dialog.retransmissions += 1
        if first is None and filed is not None:
            filed[sig] = index
        earlier.append(index)

        dialog.messages.append(index)
        ts = msg.ts_ns
        if ts > dialog.end_ns:
            dialog.end_ns = ts
        elif ts < dialog.start_ns:
            dialog.start_ns = ts
        entry = msg = MAKE_ENTRY(index, msg, dialog.id, ti, first)  # the message from here on
        self.entries[index] = entry
        if first is not None:
            return entry

        # Early dialogs: the callee's tags, from dialog-creating responses and in-dialog requests.
        # A request from the callee (a re-INVITE, a BYE) and its responses carry a caller's tag
        # in To: theirs is then the From tag. (A B2BUA that keeps the Call-ID and changes the
        # tags puts two callers in one dialog: each initial request adds its From tag.)
        if not to_tag:
            ftag = msg.from_tag
            if status is None and ftag and len(st.caller_tags) < 16 and ftag not in st.caller_tags:
                st.caller_tags += (ftag,)
        elif (
            (method == tx.method and method not in _NO_DIALOG_TAG)
            if status is None
            else (100 < status < 300 and method in DIALOG_METHODS)
        ):
            tag = msg.from_tag if to_tag in st.caller_tags else to_tag
            if tag:
                _add_tag(st, tag)

        opened = status is None and not st.requested
        if opened:
            self._first_request(st, msg)
        if self._step(st, msg, method, tx) or opened or not st.requested or self._finished:
            self._describe(st, ended=False)
        return entry

    def _file_copies(
        self, st: _State, ti: int, earlier: list[int]
    ) -> dict[tuple[object, ...], int]:
        """File the signatures of transaction ``ti``, whose messages so far are ``earlier``:
        each one's latest message that is no copy."""
        entries = self.entries
        filed: dict[tuple[object, ...], int] = {}
        for j in earlier:
            e = entries[j]
            if e.retransmission_of is None:
                filed[_signature(ti, e)] = j
        if st.copies is None:
            st.copies = {}
        st.copies[ti] = filed
        return filed

    def finish(self) -> None:
        """The capture is over: final states (unanswered requests become NO RESPONSE).

        Links between legs are made as soon as both are seen; those still awaited name a Call-ID
        that is not in the capture. ``add`` may still be called afterwards (states of the dialogs
        it touches are live again until the next ``finish``).
        """
        self._finished = True
        for st in self._states.values():
            self._describe(st, ended=True)

    def release(self) -> None:
        """The input is over for good (after ``finish``): what only later messages are matched
        against goes, each Call-ID's look-up state (its transactions' keys, tags, phase), 13 MB
        for 30,000 calls. The dialogs, transactions and entries stay as they are; ``add`` must
        not be called afterwards."""
        self._states = {}
        self._awaited = {}

    def dialog_of(self, call_id: str) -> Dialog | None:
        """The dialog of a Call-ID, or None when none of its messages was added."""
        st = self._states.get(call_id)
        return None if st is None else st.dialog

    # -- long runs ---------------------------------------------------------------------------
    def expire(
        self, older_than_ns: int, max_dialogs: int, *, idle_before_ns: int | None = None
    ) -> int:
        """``expire_trace``, for callers that only need to know how many dialogs went."""
        return len(
            self.expire_trace(older_than_ns, max_dialogs, idle_before_ns=idle_before_ns).dialogs
        )

    def expire_trace(
        self,
        older_than_ns: int,
        max_dialogs: int,
        *,
        idle_before_ns: int | None = None,
        max_active: int | None = None,
    ) -> Trace:
        """Forget dialogs, for a capture that runs for days or a file too big to hold; returns
        what was dropped, as a ``Trace`` of its own (ids unchanged), for a summary to take in
        before it is gone.

        Dropped: the dialogs that are over (``OVER_CALL``, ``OVER_OTHER``: completed, cancelled,
        rejected, registered...) whose last message is older than ``older_than_ns``; any dialog
        silent since before ``idle_before_ns`` (a call whose BYE was not captured); then, while
        more than ``max_dialogs`` are left, the ones whose last message is oldest, those that are
        over first (and those that are not only while more than ``max_active`` are left, when
        given). A dropped dialog that was not over gets its final state, as at the end of a
        capture (an unanswered request: NO RESPONSE).
        Their entries, transactions and look-up keys go with them; ``expired_states``,
        ``expired_dialogs`` and ``expired_messages`` keep count. Nothing that stays changes: ids
        are never reused nor renumbered. A message of a dropped Call-ID that comes later opens a
        new dialog (with a new id). The cost is a pass over what is held: call it now and then,
        not per message.
        """
        drop: list[_State] = []
        left: list[_State] = []
        for st in self._states.values():
            d = st.dialog
            over = (st.phase in OVER_CALL) if st.call else (st.phase in OVER_OTHER)
            if (over and d.end_ns < older_than_ns) or (
                idle_before_ns is not None and d.end_ns < idle_before_ns
            ):
                drop.append(st)
            else:
                left.append(st)
        max_dialogs = max(max_dialogs, 0)
        if len(left) > max_dialogs:

            def age(st: _State) -> tuple[bool, int]:
                over = (st.phase in OVER_CALL) if st.call else (st.phase in OVER_OTHER)
                return (not over, st.dialog.end_ns)

            order = sorted(left, key=age)
            n_over = sum(1 for st in order if not age(st)[0])
            going = min(len(left) - max_dialogs, n_over)  # those that are over first
            most = max_dialogs if max_active is None else max(max_active, max_dialogs)
            going += max(0, len(left) - going - most)  # then the others, beyond ``most``
            drop += order[:going]
        if not drop:
            return Trace(origin_ns=self.first_ns)
        drop.sort(key=lambda st: st.dialog.id)
        gone = Trace(origin_ns=self.first_ns)
        for st in drop:
            d = st.dialog
            del self._states[d.call_id]
            if not ((st.phase in OVER_CALL) if st.call else (st.phase in OVER_OTHER)):
                self.expired_early += 1
            self._describe(st, ended=True)
            self.expired_states[d.state] = self.expired_states.get(d.state, 0) + 1
            self.expired_messages += len(d.messages)
            gone.dialogs[d.id] = self.dialogs.pop(d.id)
            for ti in d.transactions:
                gone.transactions[ti] = self.transactions.pop(ti)
        self.expired_dialogs += len(drop)
        # Entries in capture order, as a trace holds them.
        ids = sorted(i for d in gone.dialogs.values() for i in d.messages)
        gone.entries = {i: self.entries.pop(i) for i in ids}
        for st in left:
            d = st.dialog
            if d.linked:  # legs of a call that went: no link to what is not held
                d.linked = tuple(i for i in d.linked if i in self.dialogs)
        if self._awaited:
            awaited: dict[str, list[int]] = {}
            for call_id, named in self._awaited.items():
                still = [i for i in named if i in self.dialogs]
                if still:
                    awaited[call_id] = still
            self._awaited = awaited
        return gone

    # -- dialogs -----------------------------------------------------------------------------
    def _open(self, msg: Message) -> _State:
        first_method = msg.method if msg.method is not None else msg.cseq_method
        self.opened += 1
        dialog = Dialog(
            id=self.opened,
            call_id=msg.call_id,
            first_method=first_method,
            from_uri=msg.from_uri,
            from_name=msg.from_name,
            to_uri=msg.to_uri,
            to_name=msg.to_name,
            src=msg.src,
            dst=msg.dst,
            start_ns=msg.ts_ns,
            end_ns=msg.ts_ns,
        )
        # A response's From tag is its request's sender's; a request's counts only when it is an
        # initial one (no To tag), which ``add`` takes care of.
        st = _State(dialog, None if msg.status is None else msg.from_tag)
        if first_method in states.CALL_START:
            st.call = True
            st.phase = states.CALL_START[first_method]
        self.dialogs[dialog.id] = dialog
        self._states[msg.call_id] = st
        if self._awaited:
            for other in self._awaited.pop(msg.call_id, ()):
                self._link(other, dialog.id)
        return st

    def _first_request(self, st: _State, msg: Message) -> None:
        st.requested = True
        dialog = st.dialog
        if not dialog.first_method and msg.method:
            # Opened by a response without a CSeq method: the request tells.
            dialog.first_method = st.method = msg.method
            if msg.method in states.CALL_START:
                st.call = True
                st.phase = states.CALL_START[msg.method]
        if self._link_probe is None or self._link_probe.search(msg.raw, 0, msg.body_start) is None:
            return
        names = self._link_names
        for name, value in parse_headers(msg.raw):
            call_id = value.strip()
            if not call_id or name.lower() not in names:
                continue
            other = self._states.get(call_id)
            if other is not None:
                self._link(dialog.id, other.dialog.id)
            else:
                self._awaited.setdefault(call_id, []).append(dialog.id)

    def _link(self, a: int, b: int) -> None:
        if a == b:
            return
        da, db = self.dialogs[a], self.dialogs[b]
        if b not in da.linked:
            da.linked = tuple(sorted((*da.linked, b)))
        if a not in db.linked:
            db.linked = tuple(sorted((*db.linked, a)))

    # -- transactions ------------------------------------------------------------------------
    def _new_tx(self, st: _State, method: str) -> int:
        self.created += 1
        ti = self.created
        self.transactions[ti] = Transaction(ti, method, st.dialog.id)
        st.dialog.transactions.append(ti)
        return ti

    def _tx_3261(
        self,
        txs: dict[str | tuple[str | None, ...], int],
        branch: str,
        sent_by: str | None,
        method: str,
    ) -> int | None:
        """The transaction filed under the RFC 3261 key (branch, sent-by, method), if any."""
        ti = txs.get(branch)
        if ti is None:
            return None  # no key of this branch: the first one is filed under the branch
        tx = self.transactions[ti]
        if tx.method == method and self.entries[tx.messages[0]].sent_by == sent_by:
            return ti
        return txs.get((branch, sent_by, method))

    def _joins(self, ti: int, msg: Message) -> bool:
        """Whether a request of a ``JOINS`` method found by the INVITE's key belongs to it."""
        if msg.method != "ACK":
            return True
        final = self.transactions[ti].final
        if final is None:
            return True
        answer = self.entries[final]
        if (answer.status or 0) < 300:
            return False  # the ACK of a 2xx: a transaction of its own (13.2.2.4)
        # RFC 2543 matching (17.2.3) also wants the To tag of the final response.
        branch = msg.branch
        if branch is not None and len(branch) > 7 and branch.startswith(COOKIE):
            return True
        return answer.to_tag == msg.to_tag

    def _miss_3261(self, st: _State, msg: Message, branch: str, method: str) -> int:
        txs = st.txs
        sent_by = msg.sent_by
        joined = JOINS.get(method)
        if joined is not None:
            ti = self._tx_3261(txs, branch, sent_by, joined)
            if ti is not None and (msg.status is not None or self._joins(ti, msg)):
                txs[(branch, sent_by, method)] = ti
                return ti
        ti = self._new_tx(st, method)
        if branch in txs:
            txs[(branch, sent_by, method)] = ti
        else:
            txs[branch] = ti
        return ti

    def _match_2543(self, st: _State, msg: Message, method: str) -> int:
        txs = st.txs
        ftag = msg.from_tag or ""
        num = "" if msg.cseq_num is None else str(msg.cseq_num)
        call_id = msg.call_id
        via = msg.sent_by
        rkey = (ftag, call_id, num, method, via)
        joined = JOINS.get(method)
        if msg.status is not None:
            ti = txs.get(rkey)
            if ti is None and joined is not None:  # the 200 of a CANCEL that was not captured
                ti = txs.get((ftag, call_id, num, joined, via))
            if ti is None:
                ti = self._new_tx(st, method)
                txs[rkey] = ti
            return ti
        ruri = msg.ruri or ""
        key = (ruri, ftag, call_id, num, method, via)
        ti = txs.get(key)
        if ti is not None:
            return ti
        if joined is not None:
            ti = txs.get((ruri, ftag, call_id, num, joined, via))
            if ti is not None and not self._joins(ti, msg):
                ti = None
        if ti is None:
            ti = txs.get(rkey)  # opened by a response captured before its request
        if ti is None:
            ti = self._new_tx(st, method)
        txs[key] = ti
        txs.setdefault(rkey, ti)
        return ti

    # -- states ------------------------------------------------------------------------------
    def _step(self, st: _State, msg: Message, method: str, tx: Transaction) -> bool:
        """Move the dialog's phase by one message; whether its label may have changed."""
        status = msg.status
        became_call = False
        if status is None:
            if not st.call and msg.method == "INVITE":
                st.call = became_call = True  # a dialog becomes a call at its first INVITE
                st.phase = states.SETUP
            if st.call:
                event = states.CALL_REQUESTS.get(msg.method or "")
                if event == states.INVITE:
                    src = msg.src  # shared by the messages from there: no tuple of its own
                    if st.caller is None:
                        st.caller = src
                    if src != st.caller:
                        event = states.RELAYED
                    else:
                        st.responded = False
                        if _CREDENTIALS.search(msg.raw, 0, msg.body_start) is not None:
                            event = states.INVITE_AUTH
            elif msg.method == st.method:
                event = states.REQUEST
                if _CREDENTIALS.search(msg.raw, 0, msg.body_start) is not None:
                    event = states.REQUEST_AUTH
            else:
                return False
        else:
            st.last_status = status
            if method != ("INVITE" if st.call else st.method):
                return False
            if st.call:
                st.responded = True
            event = states.response_event(status)
            if event == states.CHALLENGE and _STALE.search(msg.raw, 0, msg.body_start):
                event = states.STALE
        if event is None:
            return became_call
        phase = (states.CALL if st.call else states.OTHER).get((st.phase, event))
        if phase is None:
            return became_call
        st.phase = phase
        if status is not None:
            st.code = status
            if phase == states.DONE and st.method == "REGISTER":
                st.expires = self._register_expires(msg, tx)
        return True

    def _describe(self, st: _State, *, ended: bool) -> None:
        """Set the dialog's state words, outcome, phase and whether it is a call."""
        # Positional, and 0 for what the words do not show: more hits in ``verdict``'s cache.
        v = states.verdict(
            st.call,
            st.phase,
            st.method,
            st.code,
            st.expires,
            st.requested,
            0 if st.requested else st.last_status,
            ended,
            st.responded or not st.call,
        )
        d = st.dialog
        d.state = v.label
        d.outcome = v.outcome
        d.phase = st.phase
        d.call = st.call

    def _register_expires(self, answer: Message, tx: Transaction) -> int:
        """Expiry of the binding a 2xx to a REGISTER confirms; 0 when it was removed.

        RFC 3261 section 10.3 step 8: the 2xx lists every current binding of the address of
        record, each with an ``expires`` parameter; none means none left. Other devices' bindings
        are listed too, so when there are some, the request's Contact tells which is ours (its
        headers are read then, once per registration).
        """
        granted, default = bindings(answer.raw)
        if not granted:
            return 0
        default = 3600 if default is None else default  # 10.2.1.1 registrars' usual default
        expiry = {uri.lower(): default if e is None else e for uri, e in granted}
        if tx.request is None:
            return max(expiry.values())
        asked, asked_default = bindings(self.entries[tx.request].raw)
        if not asked:
            return max(expiry.values())  # a query (10.2.3): whatever is registered
        mine = [expiry[uri.lower()] for uri, _ in asked if uri.lower() in expiry]
        if mine:
            return max(mine)
        # Our binding is not listed: removed (the request asked for 0, or "*") or rewritten by
        # the registrar (then the others' expiry is the best guess).
        wished = asked[0][1] if asked[0][1] is not None else asked_default
        if asked[0][0] == "*" or wished == 0:
            return 0
        return max(expiry.values())


def _fast_add() -> Callable[[Correlator, Message], Entry] | None:
    """``Correlator.add`` in C (``correlate/_fastcorr.c``: the same steps on the same objects,
    with the correlator's own methods for what is off the common path), or None: when it was not
    built (no C compiler at install time), or when ``SIPSNIFF_PURE_PYTHON`` is set (as for the
    parser's fast path)."""
    _fastcorr = fast_module("correlate._fastcorr")
    if _fastcorr is None:
        return None
    fields = Message._fields
    indices = tuple(
        fields.index(name)
        for name in (
            "method",
            "status",
            "call_id",
            "cseq_num",
            "cseq_method",
            "branch",
            "sent_by",
            "from_tag",
            "to_tag",
            "body_start",
        )
    )
    names = {
        "State": _State,
        "Dialog": Dialog,
        "Transaction": Transaction,
        "Endpoint": Endpoint,
        "MAKE_ENTRY": MAKE_ENTRY,
        "COOKIE": COOKIE,
        "SCAN": SCAN,
        "JOINS": JOINS,
        "NO_DIALOG_TAG": _NO_DIALOG_TAG,
        "DIALOG_METHODS": DIALOG_METHODS,
        "CREDENTIALS": _CREDENTIALS,
        "STALE_CHALLENGE": _STALE,
        "CALL_REQUESTS": states.CALL_REQUESTS,
        "CALL_TABLE": states.CALL,
        "OTHER_TABLE": states.OTHER,
        "FINAL_EVENTS": states._FINAL_EVENTS,
        "verdict": states.verdict,
        "SETUP": states.SETUP,
        "DONE": states.DONE,
        "EV_INVITE": states.INVITE,
        "EV_INVITE_AUTH": states.INVITE_AUTH,
        "EV_RELAYED": states.RELAYED,
        "EV_REQUEST": states.REQUEST,
        "EV_REQUEST_AUTH": states.REQUEST_AUTH,
        "EV_PROVISIONAL": states.PROVISIONAL,
        "EV_SUCCESS": states.SUCCESS,
        "EV_CHALLENGE": states.CHALLENGE,
        "EV_STALE": states.STALE,
        "EV_FAILURE": states.FAILURE,
    }
    _fastcorr.setup(PYTHON_ADD, Message, indices, names)
    method: Callable[[Correlator, Message], Entry] = _fastcorr.method
    return method


PYTHON_ADD: Final = Correlator.add
"""``Correlator.add`` in Python: the reference, and what runs without the C fast path."""
FAST_ADD: Final = _fast_add()
"""``Correlator.add`` in C (a method), or None; when there is one, it is ``Correlator.add``."""
if FAST_ADD is not None:
    Correlator.add = FAST_ADD  # type: ignore[method-assign,assignment]


def _link_probe(names: Sequence[str]) -> re.Pattern[bytes] | None:
    """A quick look for a line starting with one of ``names`` and a colon, before any parsing."""
    if not names:
        return None
    alternatives = b"|".join(re.escape(n.encode("utf-8")) for n in names)
    return re.compile(rb"\n(?i:" + alternatives + rb")[ \t]*:")


__all__ = ["COOKIE", "DEFAULT_LINK_HEADERS", "JOINS", "Correlator"]
