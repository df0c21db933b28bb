"""The words of a ladder's notes (``analysis.ladder``'s note types), shared by the terminal ladder
and the HTML page so that the same fact reads the same in both.

Each note has a long form for a note column with room, and a short form for a narrow one. Packet
text in a note (a challenge's realm, an SDP's codecs) is cleaned here.
"""

from __future__ import annotations

from typing import NamedTuple

from sipsniff.analysis.ladder import (
    ChallengeNote,
    MediaNote,
    Note,
    ProblemsNote,
    ResponseTimeNote,
    RetransmittedNote,
    TruncatedNote,
)
from sipsniff.render.base import duration
from sipsniff.render.safe import clean

CHALLENGE = "challenge"


class Words(NamedTuple):
    """A note in words."""

    long: str
    short: str


def challenge_words(note: ChallengeNote) -> Words:
    """``challenge: Digest MD5 qop=auth, realm example.com`` (the realm from the packet)."""
    c = note.challenge
    if c is None:
        return Words(CHALLENGE, CHALLENGE)
    what = f"{c.scheme} {c.algorithm or 'MD5'}" if c.is_digest else c.scheme
    if c.qop:
        what += f" qop={','.join(c.qop)}"
    if c.realm:
        what += f", realm {c.realm}"
    return Words(clean(f"{CHALLENGE}: {what}", 70), CHALLENGE)


def response_time_words(note: ResponseTimeNote, resolution: int) -> Words:
    """``3.412 ms after the request``; short: ``after 3.412 ms``."""
    spent = duration(note.ns, resolution)
    return Words(f"{spent} after the request", f"after {spent}")


def words(note: Note, resolution: int) -> Words:
    """Any note in words (``resolution``: fraction digits of the capture's times)."""
    match note:
        case ChallengeNote():
            return challenge_words(note)
        case MediaNote():
            return Words(clean(note.summary, 60), clean(note.codecs, 14))
        case ResponseTimeNote():
            return response_time_words(note, resolution)
        case RetransmittedNote():
            until = duration(note.ns, resolution, sign=True)
            return Words(f"retransmitted until {until}", f"resent until {until}")
        case TruncatedNote():
            return Words("truncated", "truncated")
        case ProblemsNote():
            plural = "s" if note.count > 1 else ""
            return Words(f"{note.count} syntax problem{plural}", f"{note.count} problem{plural}")


def retransmitted_later(note: RetransmittedNote, resolution: int) -> str:
    """``retransmitted 500 ms later``, ``retransmitted 3 times, the last 1.5 s later``: the form of
    a page that lists the copies beside it."""
    spent = duration(note.ns, resolution)
    if note.copies == 1:
        return f"retransmitted {spent} later"
    return f"retransmitted {note.copies} times, the last {spent} later"
