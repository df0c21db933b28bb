from collections.abc import Iterable
from typing import Any

def sip_stat(
    entries: Iterable[Any],
    fields: tuple[int, ...],
    filed: type,
    call_id_size: int,
    cseq_method_size: int,
) -> tuple[int, int, list[int], dict[str, int], dict[int, int], list[int]] | None: ...
