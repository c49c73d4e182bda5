"""Registry tables (SQLAlchemy 2 declarative) and the platform tables of its database.

* ``client``: who the client is, plus the *current* satisfaction and value record (kept on the
  row so lists filter and the portfolio report aggregates in plain SQL).
* ``client_event``: every feedback and complaint event applied to a client, with the fields the
  folds need, plus what the client's page shows: a complaint's id and resolution deadline, a
  survey response's comment (the one free text, personal data: erasing the client clears it).
  The records are folds over these rows.
* ``satisfaction_entry`` / ``value_history_entry``: the folded ledger and value history, in
  order (``position``), numbers stored as shown (rounded half-up).
* ``annual_value_change``: each time staff set the annual value (cause of a value history entry).
* ``records_checkpoint``: the state of a client's records fold after some of its points, so a
  new event folds on from there instead of from the start (``domain/records_fold.py``).
* ``communication_plan``, ``interaction``, ``followup_notice``: client care.
* ``requirement``, ``requirement_history``, ``change_request``: requirements and change requests.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, Numeric,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, define_platform_tables, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


metadata = Base.metadata
platform = define_platform_tables(metadata)

_CLIENT_FK = "client.id"


class ClientRecord(Base):
    __tablename__ = "client"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), index=True)
    category: Mapped[str] = mapped_column(String(30), index=True)
    contacts: Mapped[list] = mapped_column(JSON, default=list)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    preferred_language: Mapped[str] = mapped_column(String(10))
    power: Mapped[int | None] = mapped_column(Integer, nullable=True)
    interest: Mapped[int | None] = mapped_column(Integer, nullable=True)
    engagement_current: Mapped[str | None] = mapped_column(String(20), nullable=True)
    engagement_desired: Mapped[str | None] = mapped_column(String(20), nullable=True)
    annual_amount: Mapped[Decimal | None] = mapped_column(Numeric(15, 2), nullable=True)
    annual_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    tier: Mapped[str] = mapped_column(String(1), index=True)
    # S as shown (rounded half-up to 2 decimals); the exact S is always re-folded from events.
    satisfaction: Mapped[Decimal | None] = mapped_column(Numeric(12, 6), nullable=True)
    health_score: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    health_band: Mapped[str] = mapped_column(String(10), index=True)
    open_low: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    open_medium: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    open_high: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    open_critical: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    complaints_90d: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    value_at_risk: Mapped[Decimal] = mapped_column(Numeric(17, 2), default=Decimal(0),
                                                   server_default="0")
    # The next instant a complaint leaves the 90-day window (the periodic job's work list).
    window_moves_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True,
                                                             index=True)
    records_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    records_rules: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # ``records_at`` of the fold that last wrote the client's checkpoints; when it differs (or is
    # null: records folded before checkpoints were kept) the next fold starts from the beginning.
    checkpoints_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(10), index=True)
    search_text: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ClientTagRecord(Base):
    """One row per tag, so the list can filter by tag in plain SQL on every database."""

    __tablename__ = "client_tag"

    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)

    __table_args__ = (Index("ix_client_tag_tag", "tag"),)


class ClientEventRecord(Base):
    """A feedback or complaint event applied to a client (one row per client and event id).

    ``complaint_id`` / ``resolve_by`` (complaint events) and ``comment`` (survey responses) are
    None for rows stored before the registry kept them, and when the event had none."""

    __tablename__ = "client_event"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(50))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    score: Mapped[str | None] = mapped_column(String(40), nullable=True)  # exact decimal text
    severity: Mapped[str | None] = mapped_column(String(10), nullable=True)
    previous_severity: Mapped[str | None] = mapped_column(String(10), nullable=True)
    within_sla: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    ref: Mapped[str | None] = mapped_column(String(40), nullable=True)
    complaint_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    resolve_by: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("client_id", "event_id", name="uq_client_event_client_id_event_id"),
        Index("ix_client_event_client_time", "client_id", "occurred_at"),
    )


class SatisfactionEntryRecord(Base):
    __tablename__ = "satisfaction_entry"

    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(50))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delta: Mapped[Decimal | None] = mapped_column(Numeric(8, 2), nullable=True)
    value: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    reason: Mapped[str] = mapped_column(Text)


class ValueHistoryRecord(Base):
    __tablename__ = "value_history_entry"

    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause_event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cause_event_type: Mapped[str | None] = mapped_column(String(50), nullable=True)
    tier: Mapped[str] = mapped_column(String(1))
    health_score: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    health_band: Mapped[str] = mapped_column(String(10))
    value_at_risk: Mapped[Decimal] = mapped_column(Numeric(17, 2))


class AnnualValueChangeRecord(Base):
    """Staff set (or cleared) the annual value; ``event_id`` is the registry event recording it."""

    __tablename__ = "annual_value_change"

    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    amount: Mapped[Decimal | None] = mapped_column(Numeric(15, 2), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)


class RecordsCheckpointRecord(Base):
    """The client's records fold after its ``points``-th point ``(at, event_id)`` (``event_id``
    empty for a 90-day window move): what :class:`FoldState` holds. S is exact (decimal text),
    ``opened`` the complaint openings that can still count, as microseconds since 1970-01-01 UTC;
    ``last_*`` the value history's last entry. Kept every ``CHECKPOINT_EVERY`` points and after
    the latest event; rows after a late event's place are rewritten with the records."""

    __tablename__ = "records_checkpoint"

    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"), primary_key=True)
    points: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_id: Mapped[str] = mapped_column(String(64))
    ledger_size: Mapped[int] = mapped_column(Integer)
    history_size: Mapped[int] = mapped_column(Integer)
    satisfaction: Mapped[str | None] = mapped_column(String(64), nullable=True)
    annual_amount: Mapped[Decimal | None] = mapped_column(Numeric(15, 2), nullable=True)
    annual_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    open_low: Mapped[int] = mapped_column(Integer)
    open_medium: Mapped[int] = mapped_column(Integer)
    open_high: Mapped[int] = mapped_column(Integer)
    open_critical: Mapped[int] = mapped_column(Integer)
    opened: Mapped[list] = mapped_column(JSON)
    last_tier: Mapped[str | None] = mapped_column(String(1), nullable=True)
    last_health_score: Mapped[Decimal | None] = mapped_column(Numeric(5, 1), nullable=True)
    last_health_band: Mapped[str | None] = mapped_column(String(10), nullable=True)


class CommunicationPlanRecord(Base):
    __tablename__ = "communication_plan"

    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"), primary_key=True)
    goal: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(10))
    frequency_days: Mapped[int] = mapped_column(Integer)
    owner: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    # (last interaction's date, or starts_on) + frequency_days, never before starts_on.
    next_due_on: Mapped[date] = mapped_column(Date, index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class InteractionRecord(Base):
    __tablename__ = "interaction"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    staff: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (Index("ix_interaction_client_time", "client_id", "occurred_at"),)


class FollowupNoticeRecord(Base):
    """``client.followup.due`` was published for this client and due date (never twice)."""

    __tablename__ = "followup_notice"

    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"), primary_key=True)
    due_on: Mapped[date] = mapped_column(Date, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RequirementRecord(Base):
    """A client's requirement; ``delivered_count`` / ``refused_count`` count deliveries and
    refusals (the report's share of deliveries refused at least once), ``accepted_at`` the
    last acceptance (days from ``created_at``, when it was proposed, to acceptance)."""

    __tablename__ = "requirement"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    priority: Mapped[str] = mapped_column(String(10), index=True)
    source: Mapped[str] = mapped_column(String(20))
    source_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    acceptance_criteria: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer)
    delivered_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refused_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_requirement_client_status", "client_id", "status"),)


class RequirementHistoryRecord(Base):
    """One entry of a requirement's history, in ``id`` order."""

    __tablename__ = "requirement_history"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    requirement_id: Mapped[str] = mapped_column(ForeignKey("requirement.id", ondelete="CASCADE"),
                                                index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    changes: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    change_request_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class ChangeRequestRecord(Base):
    """A proposed change to a baselined requirement. ``base`` holds the proposed fields' values
    when it was submitted: a field that moved since makes the change request stale."""

    __tablename__ = "change_request"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requirement_id: Mapped[str] = mapped_column(ForeignKey("requirement.id", ondelete="CASCADE"),
                                                index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"), index=True)
    summary: Mapped[str] = mapped_column(Text)
    proposed: Mapped[dict] = mapped_column(JSON)
    base: Mapped[dict] = mapped_column(JSON)
    schedule_days: Mapped[int] = mapped_column(Integer)
    cost_amount: Mapped[Decimal | None] = mapped_column(Numeric(15, 2), nullable=True)
    cost_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    risk: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), index=True)
    submitted_by: Mapped[str] = mapped_column(String(200))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer)
