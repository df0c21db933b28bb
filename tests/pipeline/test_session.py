"""The one session engine: what it keeps (``Retention``), whom it tells (observers), and the same
trace whichever way it is fed."""

from __future__ import annotations

from sipsniff.capture.files import read_frames
from sipsniff.model import Endpoint, Entry, Frame, Trace
from sipsniff.net.hep import encode_hep3
from sipsniff.pipeline import Retention, Session, SkippedLog, read_trace
from sipsniff.pipeline.session import SKIPPED_KEPT, SKIPPED_PREFIX
from tests.builders import T0, options_pair, udp_frame
from tests.conftest import CAPTURES

LOSSY = str(CAPTURES / "calls-lossy.pcap")


def frames_of(path: str) -> list[Frame]:
    return list(read_frames([path])[1])


def test_feed_frame_by_frame_gives_the_trace_of_read_trace() -> None:
    session = Session()
    seen: list[Entry] = []
    session.observers.append(seen.append)
    returned = [e for f in frames_of(LOSSY) for e in session.feed(f)]
    returned += session.finish()
    trace = session.trace()
    ref = read_trace([LOSSY])
    assert trace.entries == ref.entries and trace.dialogs == ref.dialogs
    assert seen == returned == list(ref.entries.values())
    assert session.messages == 33 and session.dialogs == 5


def test_numbers_last_through_sweeps_and_counters_add_up() -> None:
    """A session that sweeps after every frame, keeping finished dialogs 0.6 s and 2 dialogs at
    most: the same messages with the same ids as a session that never sweeps, every part let go
    handed to the ``expired`` observers, and counters that cover everything."""
    ref = Session()
    swept = Session(retention=Retention.forgetting(600_000_000, 2))
    parts: list[Trace] = []
    swept.expired.append(parts.append)
    got_ref: list[Entry] = []
    got: list[Entry] = []
    for f in frames_of(LOSSY):
        got_ref += ref.feed(f)
        got += swept.feed(f)
        swept.sweep(f.ts_ns)
        assert len(swept.correlator.dialogs) <= 2
    assert got == got_ref and len(got) == 33
    assert swept.evicted >= 3 and swept.evicted == sum(len(p.dialogs) for p in parts)
    ref.finish()
    swept.finish()
    assert ref.states() == swept.states() == {"COMPLETED": 5}
    assert swept.messages == ref.messages == 33
    assert swept.dialogs == ref.dialogs == 5
    left = swept.trace()
    assert sorted([*left.dialogs, *(i for p in parts for i in p.dialogs)]) == [1, 2, 3, 4, 5]


def test_tick_sweeps_once_a_period_has_passed() -> None:
    session = Session(retention=Retention.forgetting(4_000_000_000, 100))
    for f in frames_of(LOSSY):
        session.feed(f)
    last = max(d.end_ns for d in session.correlator.dialogs.values())
    assert session.retention.period_ns == 1_000_000_000
    assert session.tick(last + 5_000_000_000) == 5  # all over, and older than --keep
    assert session.tick(last + 5_500_000_000) == 0  # not a second later
    assert Session().tick(last + 10**15) == 0  # a session that keeps all never sweeps


def test_summarizing_hands_over_dialogs_past_hold() -> None:
    parts: list[Trace] = []
    session = Session(retention=Retention.summarizing(16))
    session.expired.append(parts.append)
    frames = [
        Frame(i + 1, T0 + i * 10**9, 1, f, len(f))
        for i, f in enumerate(f for n in range(60) for f in options_pair(n))
    ]
    session.run(frames)
    session.finish()
    held = len(session.correlator.dialogs)
    assert parts and held <= 16 + 8
    assert sum(len(p.dialogs) for p in parts) + held == 60 == session.dialogs


def test_skipped_records_are_bounded_with_a_short_prefix() -> None:
    """Garbage costs a counter: the first records are kept, each with a prefix of its bytes."""
    session = Session(retention=Retention(skipped_kept=5))
    junk = b"\x45" + b"\xff" * 2000  # an IPv4 header that is not one
    for i in range(50):
        frame = udp_frame(b"x")[:14] + junk
        session.feed(Frame(i + 1, T0 + i, 1, frame, len(frame)))
    session.finish()
    trace = session.trace()
    assert len(trace.skipped) == 5
    assert all(len(s.data) <= SKIPPED_PREFIX for s in trace.skipped)
    assert trace.skipped[0].data  # a prefix, not nothing
    assert trace.counts.skipped_not_kept == 45
    assert [s.frame for s in trace.skipped] == [1, 2, 3, 4, 5]  # the first ones


def test_skipped_log_is_a_list_that_keeps_the_first() -> None:
    log = SkippedLog(kept=2, prefix=3)
    from sipsniff.model import Skipped

    log.extend(Skipped(i, 0, "bad", data=b"abcdef") for i in range(4))
    assert log == [Skipped(0, 0, "bad", data=b"abc"), Skipped(1, 0, "bad", data=b"abc")]
    assert log.not_kept == 2
    assert SkippedLog().kept == SKIPPED_KEPT


def test_a_hep_flood_of_garbage_keeps_memory_bounded() -> None:
    """200,000 unusable packets: counted, a thousand examples kept, nothing else held."""
    session = Session()
    peer = Endpoint("127.0.0.1", 40000)
    garbage = b"HEP3\x00\x20" + b"\xaa" * 26
    for _ in range(200_000):
        assert session.feed_hep(garbage, T0, peer) == []
    assert session.counts.hep_bad == 200_000
    trace = session.trace()
    assert len(trace.skipped) == SKIPPED_KEPT
    assert trace.counts.skipped_not_kept == 200_000 - SKIPPED_KEPT
    assert sum(len(s.data) for s in trace.skipped) <= SKIPPED_KEPT * SKIPPED_PREFIX
    # and a good packet after it still goes through
    a, b = Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060)
    sip = options_pair(1)[0][42:]
    assert len(session.feed_hep(encode_hep3(a, b, sip, ts_ns=T0, agent_id=3), T0, peer)) == 1
    assert session.per_agent == {3: 1}


def test_a_hep_session_that_forgets_forgets_the_agents_too() -> None:
    session = Session(retention=Retention.forgetting(0, 1))
    a, b = Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060)
    for n in range(10):
        for i, f in enumerate(options_pair(n)):
            src, dst = (a, b) if i == 0 else (b, a)
            packet = encode_hep3(src, dst, f[42:], ts_ns=T0 + n, agent_id=7)
            session.feed_hep(packet, T0 + n * 10**9 + i, None)
    session.sweep(T0 + 100 * 10**9)
    assert len(session.correlator.dialogs) <= 1
    assert set(session.agents) <= set(session.correlator.entries)
    assert session.per_agent == {7: 20} and session.messages == 20


def test_hep_retention_runs_on_the_messages_clock() -> None:
    """Messages of a file replayed years later (``read --hep``) stay while their own time says
    they are recent; one that comes an hour later in their time lets the finished ones go."""
    session = Session(retention=Retention.forgetting(300 * 10**9, 100))
    a, b = Endpoint("10.0.0.1", 5060), Endpoint("10.0.0.2", 5060)
    old = 1_000_000_000 * 10**9  # 2001
    for n in range(3):
        for i, f in enumerate(options_pair(n)):
            src, dst = (a, b) if i == 0 else (b, a)
            ts = old + n * 10**9 + i
            session.feed_hep(encode_hep3(src, dst, f[42:], ts_ns=ts, agent_id=1), ts, None)
    assert len(session.correlator.dialogs) == 3 and session.evicted == 0
    later = old + 3600 * 10**9
    late = options_pair(9)[0][42:]
    session.feed_hep(encode_hep3(a, b, late, ts_ns=later, agent_id=1), later, None)
    assert session.evicted == 3 and len(session.correlator.dialogs) == 1
