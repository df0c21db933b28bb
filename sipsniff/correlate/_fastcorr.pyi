from collections.abc import Callable, Mapping

from sipsniff.model import Entry, Message

def setup(
    python_add: Callable[..., Entry],
    message_type: type[Message],
    indices: tuple[int, ...],
    names: Mapping[str, object],
) -> None: ...
def add(correlator: object, msg: Message) -> Entry: ...

method: Callable[[object, Message], Entry]
