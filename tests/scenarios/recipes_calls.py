"""Recipes of calls between real softphones (baresip) through a real PBX (Kamailio).

Each recipe says, in its docstring, what it does and with which timing; the label files are
written from that.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.scenarios.harness import Capture, Kamailio, Netns, phone, recipe

USERS = {"alice": "alice-secret", "bob": "bob-secret"}


@recipe("call-answered")
def call_answered(out: Path) -> None:
    """One laptop (everything on 127.0.0.1): Kamailio on :5060 (401 to REGISTER and 407 to INVITE,
    qop=auth, Record-Route); baresip alice on :5070 and bob on :5072 register (401, then 200).
    alice dials bob: 407, ACK, INVITE with credentials, 100, 180; bob answers 1 s after the
    ringing began, alice hangs up 2 s after the call was established, both sides say goodbye
    (BYE, 200). The capture stops before the phones quit, so both stay registered."""
    with Netns("answer") as ns:
        cap = Capture(ns, out)
        pbx = Kamailio(ns, ["udp:127.0.0.1:5060"], USERS)
        bob = alice = None
        try:
            bob = phone(ns, "bob", USERS["bob"], "127.0.0.1", 5072)
            alice = phone(ns, "alice", USERS["alice"], "127.0.0.1", 5070)
            alice.cmd("/dial sip:bob@pbx.test")
            bob.wait_for("Incoming call")
            time.sleep(1)
            bob.cmd("/accept")
            alice.wait_for("Call established")
            time.sleep(2)
            alice.cmd("/hangup")
            bob.wait_for("terminated")
            cap.stop()
        finally:
            for b in (alice, bob):
                if b is not None:
                    b.close()
            pbx.close()
