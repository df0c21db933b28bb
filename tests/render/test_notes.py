"""The words of a ladder's notes (render/notes.py), the same for the terminal and the page."""

from __future__ import annotations

import pytest

from sipsniff.analysis.ladder import (
    ChallengeNote,
    MediaNote,
    Note,
    ProblemsNote,
    ResponseTimeNote,
    RetransmittedNote,
    TruncatedNote,
)
from sipsniff.render.notes import Words, retransmitted_later, words
from sipsniff.sip.digest import parse_challenge


@pytest.mark.parametrize(
    ("note", "said"),
    [
        (
            ChallengeNote(407, parse_challenge('Digest realm="example.com", nonce="1"')),
            Words("challenge: Digest MD5, realm example.com", "challenge"),
        ),
        (
            ChallengeNote(
                401, parse_challenge('Digest realm="r", qop="auth,auth-int", algorithm=SHA-256')
            ),
            Words("challenge: Digest SHA-256 qop=auth,auth-int, realm r", "challenge"),
        ),
        (
            ChallengeNote(401, parse_challenge("Basic realm=x")),
            Words("challenge: Basic, realm x", "challenge"),
        ),
        (ChallengeNote(401, None), Words("challenge", "challenge")),
        (
            MediaNote("PCMU PCMA telephone-event · 10.0.0.5:4000"),
            Words("PCMU PCMA telephone-event · 10.0.0.5:4000", "PCMU PCMA tel…"),
        ),
        (
            ResponseTimeNote(3_412_000, follows_request=True),
            Words("3.412 ms after the request", "after 3.412 ms"),
        ),
        (
            RetransmittedNote(2, 1_502_000_000),
            Words("retransmitted until +1.502 s", "resent until +1.502 s"),
        ),
        (TruncatedNote(), Words("truncated", "truncated")),
        (ProblemsNote(1), Words("1 syntax problem", "1 problem")),
        (ProblemsNote(3), Words("3 syntax problems", "3 problems")),
    ],
)
def test_words(note: Note, said: Words) -> None:
    assert words(note, 6) == said


def test_packet_text_in_notes_is_cleaned_and_capped() -> None:
    realm = "evil\x1b[31m" + "x" * 100
    long, short = words(ChallengeNote(401, parse_challenge(f'Digest realm="{realm}"')), 6)
    assert "\x1b" not in long and "\\x1b" in long
    assert len(long) == 70 and long.endswith("…") and short == "challenge"
    long, short = words(MediaNote("PCMU\u202e · 10.0.0.1:4000"), 6)
    assert "\u202e" not in long + short


def test_times_follow_the_resolution() -> None:
    assert words(ResponseTimeNote(1_234_567, follows_request=False), 9).long == (
        "1.234 ms after the request"
    )
    assert (
        words(ResponseTimeNote(1_234, follows_request=False), 9).long
        == "1.234 µs after the request"
    )
    assert words(ResponseTimeNote(1_234, follows_request=False), 6).long == "1 µs after the request"


def test_retransmitted_later_is_the_page_form() -> None:
    assert (
        retransmitted_later(RetransmittedNote(1, 500_000_000), 6) == "retransmitted 500.0 ms later"
    )
    assert retransmitted_later(RetransmittedNote(3, 1_500_000_000), 6) == (
        "retransmitted 3 times, the last 1.500 s later"
    )
