"""The clients of the demo data set (``clientloop up --demo``), known to every service by id.

The registry registers the demo's clients with these ids. The survey and complaints services,
which know clients only from the registry's events, give their demo answers and complaints to
these clients only: a client someone registers while the demo is still loading (its events
reach the other services a moment after the start) never receives demo data.

The ids are UUIDs derived from a fixed namespace (version 5), the same in every installation;
each installation's demo loads into its own databases, and only while they are empty.
"""
from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("6f1c1f4e-3b7a-5d0e-9a57-0c1d2e3f4a5b")
#: How many clients the registry's demo registers.
CLIENT_COUNT = 12
#: The demo clients' ids, in the order the registry's demo registers them.
CLIENT_IDS: tuple[str, ...] = tuple(str(uuid.uuid5(NAMESPACE, f"demo-client-{number}"))
                                    for number in range(CLIENT_COUNT))
