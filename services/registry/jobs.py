"""The registry's periodic jobs (``clientloop jobs registry``, or every
CLIENTLOOP_JOBS_INTERVAL_S inside ``clientloop consume registry``):

* recompute the records of clients whose 90-day complaint window moved (or whose records were
  folded under other rules) and publish ``client.value.changed`` with ``cause`` null where tier,
  health score or band changed;
* publish ``client.followup.due`` once per client and due date.

Both are safe to run twice, or twice at the same time.
"""
from __future__ import annotations

import logging
from datetime import datetime

from services.registry import care, records

log = logging.getLogger("clientloop.registry.jobs")


def run_jobs(ctx, now: datetime) -> dict[str, int]:
    rules = ctx.extras["rules"]
    recomputed = records.recompute_due_clients(ctx.database, now=now, rules=rules)
    followups = care.publish_due_followups(ctx.database, now=now, rules=rules)
    if recomputed or followups:
        log.info("registry jobs", extra={"recomputed": recomputed, "followups_due": followups})
    return {"recomputed": recomputed, "followups_due": followups}
