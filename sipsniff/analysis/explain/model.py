"""What ``read --explain`` says, as values: sentences with the RFC sections they rest on, and the
facts of the capture each sentence states (so a test, or a reader of JSON, can check them)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import NamedTuple


class Ref(NamedTuple):
    """A place in an RFC: ``RFC 3261 §10.2``."""

    rfc: int
    section: str = ""
    """``10.2``, ``22.3``; "" for the whole document."""

    def __str__(self) -> str:
        return f"RFC {self.rfc} §{self.section}" if self.section else f"RFC {self.rfc}"


def sip(*sections: str) -> tuple[Ref, ...]:
    """References to sections of RFC 3261 (SIP itself)."""
    return tuple(Ref(3261, s) for s in sections)


@dataclass(frozen=True, slots=True)
class Sentence:
    """One or two plain sentences and where the RFCs say so."""

    text: str
    """Words of ours with packet text in them (addresses, users, realms): a renderer cleans it."""
    refs: tuple[Ref, ...] = ()

    @property
    def cited(self) -> str:
        """The text and its references: ``... (RFC 3261 §10.2, §10.3; RFC 3581 §4)``."""
        if not self.refs:
            return self.text
        return f"{self.text} ({citation(self.refs)})"


def citation(refs: tuple[Ref, ...]) -> str:
    """``RFC 3261 §10.2, §10.3; RFC 3581 §4``: sections of one RFC together, in order of first
    mention."""
    by_rfc: dict[int, list[str]] = {}
    for ref in refs:
        by_rfc.setdefault(ref.rfc, [])
        if ref.section and ref.section not in by_rfc[ref.rfc]:
            by_rfc[ref.rfc].append(ref.section)
    return "; ".join(
        f"RFC {rfc} " + ", ".join(f"§{s}" for s in sections) if sections else f"RFC {rfc}"
        for rfc, sections in by_rfc.items()
    )


@dataclass(frozen=True, slots=True)
class HeaderNote:
    """What one header of a message is for, in this message."""

    name: str
    """Canonical name (``Via``, ``Call-ID``)."""
    value: str
    """The value as written (packet text)."""
    text: str
    refs: tuple[Ref, ...] = ()

    @property
    def cited(self) -> str:
        """The text and its references."""
        return Sentence(self.text, self.refs).cited


@dataclass(frozen=True, slots=True)
class Facts:
    """The facts of the capture the sentences state, as values. None (or ()) where a message has
    nothing of the kind."""

    aor: str | None = None
    """REGISTER: the address-of-record bound (the To URI)."""
    contact: str | None = None
    """REGISTER: the Contact bound (ours, in a 2xx)."""
    expires_asked: int | None = None
    """REGISTER: the seconds asked for (Contact ``expires`` or Expires header)."""
    expires_granted: int | None = None
    """2xx to a REGISTER: the seconds the registrar granted to our Contact."""
    min_expires: int | None = None
    """423: the Min-Expires the registrar wants."""
    realm: str | None = None
    """401/407 and requests with credentials: the realm."""
    nonce: str | None = None
    algorithm: str | None = None
    """As written; None when the challenge names none (MD5)."""
    qop: tuple[str, ...] = ()
    username: str | None = None
    """Requests with credentials: the digest username."""
    codecs: tuple[str, ...] = ()
    """An SDP: the codecs of its first live stream, in its order."""
    codec: str | None = None
    """An SDP answer: the codec chosen (its first codec that the offer had too, events aside)."""
    media: str | None = None
    """An SDP: ``address:port`` of its first live stream."""
    direction: str | None = None
    """An SDP: the direction of its first live stream (sendrecv, sendonly...)."""
    ended_by: str | None = None
    """BYE (and a call's summary): ``caller`` or ``callee``."""
    timer: str | None = None
    """A message sent again: the RFC 3261 timer that resent it (``A``, ``E``, ``G``, ``2xx``), or
    ``none`` over a reliable transport."""
    received: str | None = None
    """A response's top Via ``received`` (where the request really came from)."""
    rport: int | None = None
    """A response's top Via ``rport`` value."""
    relayed_by: str | None = None
    """A message a proxy passed on: the proxy's address."""

    def merged(self, other: Facts) -> Facts:
        """These facts with every one that ``other`` states (is not None or ())."""
        changes = {
            f.name: getattr(other, f.name)
            for f in fields(other)
            if getattr(other, f.name) not in (None, ())
        }
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class RowExplanation:
    """What one arrow of a ladder is and why it is there."""

    entry: int
    """``Entry.id`` of the row's message (``Row.entry``)."""
    sentences: tuple[Sentence, ...]
    """The message, then what else its arrow shows (retransmissions, NAT)."""
    headers: tuple[HeaderNote, ...]
    """Headers explained at this message: in brief mode those met here first in the dialog,
    with ``full`` every header."""
    facts: Facts


@dataclass(frozen=True, slots=True)
class DialogExplanation:
    """A dialog told: a paragraph of what happened, then each arrow of its ladder."""

    dialog: int
    summary: Sentence
    """What happened, above the ladder."""
    rows: tuple[RowExplanation, ...]
    """One per ``Ladder.rows``, in the same order."""
    facts: Facts
    """The dialog's facts: expiry asked and granted, realm, codec chosen, who hung up."""

    def row(self, entry: int) -> RowExplanation | None:
        """The explanation of the row of ``Entry.id`` ``entry``; None when no row has it."""
        for r in self.rows:
            if r.entry == entry:
                return r
        return None
