"""What the registry shows about each client's satisfaction and value, read from its database
in one comparable shape: two registries fed the same events must give equal views."""
from __future__ import annotations

from sqlalchemy import select

from services.registry.adapters.orm import (ClientEventRecord, ClientRecord,
                                            SatisfactionEntryRecord, ValueHistoryRecord)


def records_of(ctx) -> dict:
    """Everything the registry shows about each client's satisfaction and value."""
    with ctx.database.transaction() as session:
        clients = {row.id: (row.satisfaction, row.tier, row.health_score, row.health_band,
                            row.open_low, row.open_medium, row.open_high, row.open_critical,
                            row.complaints_90d, row.value_at_risk, row.window_moves_at)
                   for row in session.execute(select(ClientRecord)).scalars()}
        ledgers = {}
        for row in session.execute(select(SatisfactionEntryRecord).order_by(
                SatisfactionEntryRecord.client_id, SatisfactionEntryRecord.position)).scalars():
            ledgers.setdefault(row.client_id, []).append(
                (row.position, row.event_id, row.event_type, row.occurred_at, row.delta, row.value,
                 row.reason))
        histories = {}
        for row in session.execute(select(ValueHistoryRecord).order_by(
                ValueHistoryRecord.client_id, ValueHistoryRecord.position)).scalars():
            # registration is the one cause that differs: each database registered its clients
            cause = row.cause_event_id if row.cause_event_type != "client.registered" else "registration"
            histories.setdefault(row.client_id, []).append(
                (row.position, row.at, cause, row.cause_event_type, row.tier, row.health_score,
                 row.health_band, row.value_at_risk))
        applied = sorted(session.execute(select(ClientEventRecord.client_id,
                                                ClientEventRecord.event_id)).all())
    return {"clients": clients, "ledgers": ledgers, "histories": histories, "applied": applied}
