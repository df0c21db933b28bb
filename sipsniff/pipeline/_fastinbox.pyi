from collections.abc import Callable
from typing import Any

def take(
    batch: list[tuple[Any, ...]],
    endpoints: dict[Any, Any],
    endpoint: Callable[[Any], Any],
    files: dict[int, Any],
    parse: Callable[..., Any],
    add: Callable[[Any], object],
    observers: list[Callable[[Any], object]],
    mark: Callable[[int], object] | None,
    rest: Callable[[list[tuple[Any, ...]]], None],
    payload_type: type,
    sip_length: int,
) -> None: ...
