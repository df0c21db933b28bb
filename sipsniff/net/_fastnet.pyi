from typing import Any

def setup(half_type: type, /) -> None: ...
def decode(
    frame: tuple[Any, ...],
    pairs: dict[bytes, Any],
    halves: dict[Any, Any] | None,
    payload_type: type,
    /,
) -> list[Any] | None: ...
