"""Messages kept as places in their capture file (``capture.filed``, ``model.FiledMessage``).

A message found whole in one frame of a plain pcap or pcapng file holds no bytes of its own: the
same trace otherwise, whichever way it is read (one process or two, the file gzip-compressed so
that the bytes must be held), the same bytes read back however the blocks fall, and a clear error
when the file changed under it.
"""

from __future__ import annotations

import copy
import gzip
import os
import pickle
import shutil
from pathlib import Path

import pytest

from sipsniff.capture import filed
from sipsniff.errors import CaptureError
from sipsniff.model import Entry, FiledEntry, FiledMessage, Message, Trace
from sipsniff.pipeline import read_trace
from sipsniff.pipeline.stages import bare

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
UDP = CAPTURES / "invite-call.pcap"
TCP = CAPTURES / "invite-call-tcp.pcap"


def _fields(trace: Trace) -> list[tuple[object, ...]]:
    """Every message as its fields, the bytes as bytes, the payload without its data."""
    return [
        (
            *(e.id, e.dialog, e.transaction, e.retransmission_of),
            *(e.msg.raw, e.msg.body, e.msg.size),
            *e.msg.pkt[:5],
            *e.msg.pkt[6:],
            *e.msg[2 : len(Message._fields)],  # a FiledMessage holds its frame... after them
        )
        for e in trace.entries.values()
    ]


def _gzipped(path: Path, tmp_path: Path) -> Path:
    out = tmp_path / (path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    return out


@pytest.mark.parametrize("capture", [UDP, TCP], ids=["udp", "tcp"])
@pytest.mark.parametrize("parallel", [False, True], ids=["one-process", "two"])
def test_a_plain_file_keeps_places_and_reads_the_same_bytes(
    capture: Path, parallel: bool, tmp_path: Path
) -> None:
    trace = read_trace([str(capture)], parallel=parallel)
    held = read_trace([str(_gzipped(capture, tmp_path))], parallel=parallel)
    assert trace.entries
    for e in trace.entries.values():
        assert isinstance(e.msg, FiledMessage)
        assert e.msg.pkt.data == b""
        assert e.msg.size == len(e.msg.raw)
    for e in held.entries.values():  # gzip: no place in a file, the bytes held
        assert not isinstance(e.msg, FiledMessage)
        assert e.msg.raw is e.msg.pkt.data
    assert _fields(trace) == _fields(held)
    assert list(trace.entries.values()) == list(held.entries.values())  # equal values
    assert {e.msg for e in trace.entries.values()} == {e.msg for e in held.entries.values()}


def test_several_files_each_keep_their_places(tmp_path: Path) -> None:
    both = read_trace([str(UDP), str(TCP)])
    held = read_trace([str(_gzipped(UDP, tmp_path)), str(_gzipped(TCP, tmp_path))])
    assert {e.msg.file for e in both.entries.values()} == {0, 1}
    assert all(isinstance(e.msg, FiledMessage) for e in both.entries.values())
    assert _fields(both) == _fields(held)


def test_both_ways_of_reading_give_equal_messages() -> None:
    one = read_trace([str(UDP)], parallel=False)
    two = read_trace([str(UDP)], parallel=True)
    assert list(one.entries.values()) == list(two.entries.values())


def test_messages_of_one_kind_share_a_flow_and_give_their_own_payload(tmp_path: Path) -> None:
    """A filed message holds no payload of its own: the messages of one transport share one
    (frame, time and endpoints are the message's), and ``pkt`` makes the message's when asked.
    A payload that names other frames is held whole."""
    trace = read_trace([str(UDP)], parallel=False)
    held = read_trace([str(_gzipped(UDP, tmp_path))], parallel=False)  # held as bytes
    msgs = [e.msg for e in trace.entries.values()]
    assert all(isinstance(m, FiledMessage) for m in msgs)
    assert len({id(m[0]) for m in msgs}) == 1  # the shared flow, not a payload each
    assert [m.pkt for m in msgs] == [bare(e.msg.pkt) for e in held.entries.values()]
    for m in msgs:
        assert (m.frame, m.ts_ns, m.src, m.dst) == m.pkt[:4]
        assert (m.transport, m.file, m.first_frame, m.first_ts_ns) == (*m.pkt[4:5], *m.pkt[6:9])
    m = msgs[0]
    assert isinstance(m, FiledMessage)
    place: int = m[1]  # type: ignore[assignment]  # a FiledMessage holds its place there
    own = type(m).of(
        Message._make((m.pkt._replace(first_frame=1, frames=(1, 2)), *m.fields()[1:])), place
    )
    assert own.pkt == m.pkt._replace(first_frame=1, frames=(1, 2)) and own[0] is not m[0]


def test_a_filed_message_is_a_named_tuple_like_the_others() -> None:
    """What ``NamedTuple`` gives (repr, ``_asdict``, ``_replace``, copies, hashing) is what the
    same message holding its bytes gives: the fields after ``Message``'s do not show."""
    for e in list(read_trace([str(TCP)], parallel=False).entries.values())[:4]:
        m = e.message()
        assert isinstance(m, FiledMessage) and not isinstance(m, Entry)
        plain = Message._make(m.fields())
        assert type(plain) is Message and plain == m and hash(plain) == hash(m)
        assert repr(m) == repr(plain).replace("Message(", "FiledMessage(", 1)
        assert m._asdict() == plain._asdict()
        assert m._replace(reason="x") == plain._replace(reason="x")
        for copied in (copy.copy(m), copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
            assert type(copied) is Message and copied == m


def test_a_filed_entry_is_an_entry_like_the_others() -> None:
    """An entry of a filed message is one of its file (its bytes read there), and what an entry
    gives (its items, equality, repr, ``_replace``, copies) is what the same entry holding its
    bytes gives."""
    for e in list(read_trace([str(TCP)], parallel=False).entries.values())[:4]:
        m = e.message()
        assert isinstance(e, FiledEntry) and isinstance(e, type(m)) and e.raw == m.raw
        plain = Entry(e.id, Message._make(m.fields()), e.dialog, e.transaction)
        assert type(plain) is Entry and plain == e and hash(plain) == hash(e)
        assert repr(e) == repr(plain).replace("msg=Message(", "msg=FiledMessage(", 1)
        assert e._replace(reason="x", dialog=9) == plain._replace(reason="x", dialog=9)
        for copied in (copy.copy(e), copy.deepcopy(e), pickle.loads(pickle.dumps(e))):
            assert type(copied) is Entry and copied == e


def test_the_bytes_are_the_same_whatever_the_blocks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Blocks of 64 bytes, 3 of them kept: messages over block ends, blocks evicted and read
    again, in capture order and backwards."""
    expected = _fields(read_trace([str(_gzipped(UDP, tmp_path))]))
    monkeypatch.setattr(filed, "BLOCK_BITS", 6)
    monkeypatch.setattr(filed, "BLOCK", 64)
    monkeypatch.setattr(filed, "BLOCKS", 3)
    trace = read_trace([str(UDP)])
    assert _fields(trace) == expected
    backwards = [e.msg.raw for e in list(trace.entries.values())[::-1]]
    assert backwards == [f[4] for f in reversed(expected)]


def test_a_file_that_grew_is_still_read(tmp_path: Path) -> None:
    copy = tmp_path / "growing.pcap"
    shutil.copy(UDP, copy)
    trace = read_trace([str(copy)])
    with copy.open("ab") as f:
        f.write(b"\0" * 100)
    assert [e.msg.raw for e in trace.entries.values()] == [
        e.msg.raw for e in read_trace([str(UDP)]).entries.values()
    ]


def _small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """One block of 64 bytes kept: the first message's bytes are read from the file again."""
    monkeypatch.setattr(filed, "BLOCK_BITS", 6)
    monkeypatch.setattr(filed, "BLOCK", 64)
    monkeypatch.setattr(filed, "BLOCKS", 1)


def _change(copy: Path, change: str) -> None:
    if change == "truncated":
        os.truncate(copy, 100)
    elif change == "replaced":
        other = copy.with_name("other.pcap")
        shutil.copy(UDP, other)
        os.replace(other, copy)
    else:
        copy.unlink()


@pytest.mark.parametrize("change", ["replaced", "removed"])
def test_a_file_renamed_or_removed_while_open_is_read_as_it_was(
    change: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tcpdump rotating its files: the descriptor opened when reading began still reads them."""
    _small_blocks(monkeypatch)
    copy = tmp_path / "rotated.pcap"
    shutil.copy(UDP, copy)
    trace = read_trace([str(copy)])
    _change(copy, change)
    expected = read_trace([str(UDP)])
    assert [e.msg.raw for e in trace.entries.values()] == [
        e.msg.raw for e in expected.entries.values()
    ]


@pytest.mark.parametrize("change", ["truncated", "replaced", "removed"])
def test_a_file_that_changed_is_an_error_that_says_so(
    change: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut short, or replaced or removed once its descriptor left the pool (here: 1 file open,
    another read after it)."""
    _small_blocks(monkeypatch)
    monkeypatch.setattr(filed, "OPEN", 1)
    copy = tmp_path / "changing.pcap"
    shutil.copy(UDP, copy)
    trace = read_trace([str(copy)])
    first = trace.entries[1].msg
    read_trace([str(TCP)])  # its file takes the one place in the pool
    _change(copy, change)
    with pytest.raises(CaptureError) as caught:
        first.raw  # noqa: B018
    message = str(caught.value)
    assert str(copy) in message and "changed while sipsniff was reading it" in message
    assert "\n" not in message


def test_the_pool_holds_few_descriptors(monkeypatch: pytest.MonkeyPatch) -> None:
    _small_blocks(monkeypatch)
    monkeypatch.setattr(filed, "OPEN", 3)
    traces = [read_trace([str(UDP)]) for _ in range(10)]
    assert len(filed._open) <= 3
    for trace in traces:  # each opens its file again when it needs it
        assert trace.entries[1].msg.raw.startswith(b"INVITE ")


def test_standard_input_and_other_formats_hold_their_bytes() -> None:
    assert filed.filed_bytes(["-"]) == {}
    assert filed.filed_bytes([str(CAPTURES)]) == {}  # a directory: the reader says why


def test_without_pread_as_on_windows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Windows has no ``os.pread``: the file is read at an offset with lseek and read."""
    expected = _fields(read_trace([str(_gzipped(UDP, tmp_path))]))
    _small_blocks(monkeypatch)
    monkeypatch.delattr(os, "pread")
    assert _fields(read_trace([str(UDP)])) == expected


@pytest.mark.parametrize("blocks", ["64 KiB", "64 bytes"])
@pytest.mark.parametrize("parallel", [False, True], ids=["one-process", "two"])
def test_a_file_written_over_in_place_is_an_error_that_says_so(
    blocks: str, parallel: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tcpdump -w`` to the same name again: the same file (device and inode), as long as it
    was, other bytes. Its messages are not shown with those bytes: the blocks read back are
    checked against what was read (``FiledBytes.mark``)."""
    if blocks == "64 bytes":
        _small_blocks(monkeypatch)
    monkeypatch.setattr(filed, "BLOCKS", 1)
    copy = tmp_path / "rewritten.pcap"
    shutil.copy(UDP, copy)
    trace = read_trace([str(copy)], parallel=parallel)
    last = trace.entries[len(trace.entries)].msg
    assert isinstance(last, FiledMessage)
    with copy.open("r+b") as f:  # written over, not replaced: the same inode
        f.write(UDP.read_bytes().replace(b"SIP/2.0", b"SIP/2.1"))
    for e in read_trace([str(TCP)]).entries.values():
        e.msg.raw  # noqa: B018  # the one block kept is another file's now
    with pytest.raises(CaptureError) as caught:
        last.raw  # noqa: B018
    message = str(caught.value)
    assert str(copy) in message and "other bytes are where its messages were" in message


def test_a_file_that_grew_in_its_last_block_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marks are of the bytes that were there: bytes added after them change nothing."""
    monkeypatch.setattr(filed, "BLOCKS", 1)
    copy = tmp_path / "growing.pcap"
    shutil.copy(UDP, copy)
    trace = read_trace([str(copy)])
    with copy.open("ab") as f:
        f.write(b"\0" * 100)
    for e in read_trace([str(TCP)]).entries.values():
        e.msg.raw  # noqa: B018
    assert [e.msg.raw for e in trace.entries.values()] == [
        e.msg.raw for e in read_trace([str(UDP)]).entries.values()
    ]
