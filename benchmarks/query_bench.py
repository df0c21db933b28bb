"""How fast the filter box (``analysis.query``) answers on the 30,000-call benchmark capture.

    python benchmarks/query_bench.py [CAPTURE]

CAPTURE defaults to the one ``read_bench.py`` records (``benchmarks/.cache/sipp-30000-calls.pcap``;
run it once first). Prints the time to read the capture, to index it (the first query pays it),
then for each query the median and the least of five runs with the index kept, as the browser
keeps it between keys.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sipsniff.analysis.query import QueryIndex, parse_query  # noqa: E402
from sipsniff.pipeline import read_trace  # noqa: E402

QUERIES = (
    # metadata only
    "method:INVITE",
    "state:completed",
    "-state:completed",
    "status:4xx",
    "status:failed",
    "user:service",
    "user:nobody",
    "host:127.0.0.2",
    "host:10.0.0.0/8",
    "call-id:1234-*",
    "call-id:*999@*",
    "since:+10s until:+20s",
    "min-duration:1s",
    "method:INVITE state:completed status:2xx user:sipp host:127.0.0.0/8 until:+2m "
    "min-duration:1ms",
    # free text
    "service",
    "nowhere",
    "12345-",
    "sipp -nowhere",
    # message text
    "grep-first:nowhere",
    "grep:nowhere",
)


def ms(t: float) -> str:
    return f"{t * 1000:8.1f} ms"


def main() -> None:
    path = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks/.cache/sipp-30000-calls.pcap"
    )
    t = time.perf_counter()
    trace = read_trace([str(path)])
    print(
        f"read {path.name}: {len(trace.dialogs)} dialogs, {len(trace.entries)} messages in "
        f"{time.perf_counter() - t:.1f} s"
    )
    index = QueryIndex()
    t = time.perf_counter()
    index.dialogs.refresh(trace)
    print(f"index (first query): {ms(time.perf_counter() - t)}")
    t = time.perf_counter()
    for d in trace.dialogs.values():
        index.text(trace, d)
    print(f"text of every row (first query with words): {ms(time.perf_counter() - t)}")
    for text in QUERIES:
        q = parse_query(text)
        assert q.error is None, q.error
        times = []
        for _ in range(5):
            t = time.perf_counter()
            found = q.select(trace, index=index)
            times.append(time.perf_counter() - t)
        print(
            f"{ms(statistics.median(times))} (least {ms(min(times)).strip()})  "
            f"{len(found):6} of {len(trace.dialogs)}  {text}"
        )


if __name__ == "__main__":
    main()
