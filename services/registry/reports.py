"""The portfolio report: how many clients, how satisfied, how much value and how much of it at
risk — overall and by kind, tier and health band.

Computed by SQL aggregates over the current figures kept on each client row, so its cost grows
with the number of clients, not with their history: on PostgreSQL one scan with ``GROUPING
SETS`` gives the total and the three breakdowns, elsewhere (SQLite) one grouped query each. Active
clients only: an archived client is no longer part of the portfolio and an erased one is
anonymous history. ``satisfaction_mean`` is the mean S of the clients whose S is known (as
shown, 2 decimals), rounded half-up to 2 decimals, or null when none is known; money sums are
exact and shown as money objects.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from services.registry.adapters.orm import ClientRecord
from services.registry.domain.clients import KINDS
from services.registry.domain.money import money_output
from services.registry.domain.rounding import round_half_up, to_decimal
from services.registry.domain.value import HEALTH_BANDS, TIERS

BREAKDOWNS = {"by_kind": (ClientRecord.kind, tuple(KINDS)),
              "by_tier": (ClientRecord.tier, TIERS),
              "by_band": (ClientRecord.health_band, HEALTH_BANDS)}


def _figures():
    return (func.count(ClientRecord.id), func.count(ClientRecord.satisfaction),
            func.sum(ClientRecord.satisfaction), func.sum(ClientRecord.annual_amount),
            func.sum(ClientRecord.value_at_risk))


def _summary(row, currency: str) -> dict[str, Any]:
    clients, measured, satisfaction_sum, annual, at_risk = row if row is not None else (0, 0, None, None, None)
    mean = None
    if measured:
        mean = round_half_up(_decimal(satisfaction_sum) / Decimal(measured), 2)
    return {"clients": int(clients or 0), "satisfaction_mean": mean,
            "satisfaction_measured": int(measured or 0),
            "annual_value": money_output(_decimal(annual), currency),
            "value_at_risk": money_output(_decimal(at_risk), currency)}


def _decimal(value) -> Decimal:
    return Decimal(0) if value is None else to_decimal(value)


def portfolio(session: Session, currency: str) -> dict[str, Any]:
    if session.get_bind().dialect.name == "postgresql":
        total, groups = _grouping_sets(session)
    else:
        total, groups = _grouped_queries(session)
    report = _summary(total, currency)
    for name, (_, keys) in BREAKDOWNS.items():
        rows = groups[name]
        report[name] = {key: _summary(rows.get(key), currency) for key in keys}
        for key in rows:  # a value outside the known keys (never expected) is still shown
            report[name].setdefault(key, _summary(rows[key], currency))
    return report


_ACTIVE = ClientRecord.status == "active"


def _grouped_queries(session: Session):
    total = session.execute(select(*_figures()).where(_ACTIVE)).one()
    groups = {name: {row[0]: row[1:] for row in session.execute(
        select(column, *_figures()).where(_ACTIVE).group_by(column))}
        for name, (column, _) in BREAKDOWNS.items()}
    return total, groups


def _grouping_sets(session: Session):
    columns = [column for column, _ in BREAKDOWNS.values()]
    statement = (select(*columns, func.grouping(*columns), *_figures()).where(_ACTIVE)
                 .group_by(func.grouping_sets(literal_column("()"), *columns)))
    # grouping(kind, tier, band) is a bit mask of the columns *not* grouped on in that row
    masks = {0b011: ("by_kind", 0), 0b101: ("by_tier", 1), 0b110: ("by_band", 2)}
    total, groups = None, {name: {} for name in BREAKDOWNS}
    for row in session.execute(statement):
        figures = tuple(row[len(columns) + 1:])
        mask = row[len(columns)]
        if mask == 0b111:
            total = figures
        elif mask in masks:
            name, index = masks[mask]
            groups[name][row[index]] = figures
    return total, groups
