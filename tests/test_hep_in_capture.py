"""HEP found inside a capture (on its way to a HOMER collector) is unwrapped by ``read``."""

from __future__ import annotations

from pathlib import Path

from sipsniff.capture.live import PcapWriter
from sipsniff.model import Endpoint, Payload
from sipsniff.net.encode import FrameMaker
from sipsniff.net.hep import encode_message
from sipsniff.pipeline import read_trace
from tests.conftest import CAPTURES

AGENT = Endpoint("127.0.0.1", 41000)
HOMER = Endpoint("127.0.0.1", 9060)


def test_hep_packets_in_a_capture_give_the_sip_inside(tmp_path: Path) -> None:
    original = read_trace([str(CAPTURES / "calls-lossy.pcap")])
    out = tmp_path / "hep.pcap"
    maker = FrameMaker()
    writer = PcapWriter(str(out), 1)
    for n, e in enumerate(original.entries.values(), 1):
        hep = encode_message(e.msg, agent_id=7)
        carrier = Payload(n, e.msg.ts_ns + 1000, AGENT, HOMER, "udp", hep)
        frame = maker.frame(n, carrier)
        assert frame is not None
        writer.write(frame)
    writer.close()
    unwrapped = read_trace([str(out)])
    assert unwrapped.counts.hep == len(original.entries)
    got = [
        (e.msg.raw, e.msg.src, e.msg.dst, e.msg.ts_ns // 1000) for e in unwrapped.entries.values()
    ]
    want = [
        (e.msg.raw, e.msg.src, e.msg.dst, e.msg.ts_ns // 1000) for e in original.entries.values()
    ]
    assert got == want  # the original addresses and (microsecond) times, not the carrier's
    assert [d.state for d in unwrapped.dialogs.values()] == [
        d.state for d in original.dialogs.values()
    ]
    assert sum(e.retransmission for e in unwrapped.entries.values()) == sum(
        e.retransmission for e in original.entries.values()
    )
