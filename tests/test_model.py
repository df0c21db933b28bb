"""``model``: the typed counters (what the JSON document's ``counts`` shows)."""

from __future__ import annotations

from sipsniff.model import Counts


def test_counts_add_up_and_list_what_is_not_zero() -> None:
    a = Counts(frames=3, tcp_gaps=1, hep_types={5: 1})
    b = Counts(frames=2, tcp_gaps=2, not_sip=4, first_not_kept_frame=9, first_not_kept_file=0)
    a.add(b)
    assert (a.frames, a.tcp_gaps, a.not_sip) == (5, 3, 4)
    assert (a.first_not_kept_frame, a.first_not_kept_file) == (9, 0)
    a.add(Counts(hep_types={5: 2, 13: 1}))
    assert a.as_dict() == {
        "first_not_kept_file": 0,  # a figure once set, zero included
        "first_not_kept_frame": 9,
        "frames": 5,
        "hep_type_13": 1,
        "hep_type_5": 3,
        "not_sip": 4,
        "tcp_gaps": 3,
    }
    assert Counts().as_dict() == {"frames": 0}
    assert Counts(dropped_by_kernel=0).as_dict() == {"dropped_by_kernel": 0, "frames": 0}
