from collections.abc import Iterable

from sipsniff.model import Entry, Flows, Message, Payload

def setup(message_type: type[Message], kinds: dict[str, int], methods: Iterable[str]) -> None: ...
def parse(
    raw: bytes,
    pkt: Payload,
    filed_type: type[Message] = ...,
    offset: int = ...,
    flows: Flows = ...,
) -> Message | None: ...
def headers(buf: bytes | bytearray, pos: int, start: int, end: int) -> tuple[int, int, int]: ...
def whole_ends(buf: bytes | bytearray, pos: int, max_message: int, max_line: int) -> list[int]: ...
def entry(
    id: int, msg: Message, dialog: int, transaction: int, retransmission_of: int | None
) -> Entry: ...
