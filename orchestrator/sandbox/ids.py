"""SIDs and sequence numbers, drawn from a generator seeded by the scenario.

The same scenario and the same sequence of requests give the same SIDs, so a
test or a demo can be replayed. Sequence numbers order every record of the
account (conferences, legs, recordings) for paging. Callbacks carry no id of
their own (Telnyx sends none), so nothing here is drawn for them.
"""

from __future__ import annotations

import base64
import random
import uuid


class Identities:
    def __init__(self, seed: int) -> None:
        self._random = random.Random(f"{seed}:ids")
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def new_uuid(self) -> str:
        """A conference or recording SID."""
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def new_call_sid(self) -> tuple[str, str]:
        """A call's SID and its legacy SID, in the shapes Telnyx gives them."""
        raw = self._random.getrandbits(320).to_bytes(40, "big")
        token = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        legacy = self._random.getrandbits(128).to_bytes(16, "big").hex()
        return f"v3:{token}", f"v2:{legacy}"
