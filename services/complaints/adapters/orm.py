"""Complaints tables (SQLAlchemy 2 declarative) and the platform tables of its database.

* ``complaint``: every documented field, the SLA bookkeeping the domain keeps (pauses, breach flags,
  reopen count) and ``version``, the compare-and-set guard of every write; the durations
  ``time_to_acknowledge_s`` / ``time_to_resolve_s`` are stored as whole seconds when they
  happen so the report aggregates them in plain, portable SQL. ``resolved_at`` is indexed for
  the report's backlog (the complaints resolved after a past moment, beside those open now).
* ``complaint_timeline``: one row per opening, action, internal note and triage correction,
  in order (``id`` increases with time within a complaint); ``at`` is indexed for the report's
  backlog (the entries after a past moment).
* ``complaint_ref_counter``: one row; ``UPDATE … SET last_number = last_number + 1 RETURNING``
  hands out ``CMP-000123`` numbers inside the creating transaction (gapless, sequential).
* ``known_client``: the local client directory, fed only by registry events.
* ``service_state``: small key/value flags of the service (a pending demo load).
* ``improvement`` / ``improvement_timeline``: improvement actions and their history.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, define_platform_tables, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


metadata = Base.metadata
platform = define_platform_tables(metadata)


class ComplaintRecord(Base):
    __tablename__ = "complaint"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ref: Mapped[str] = mapped_column(String(20), unique=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    client_tier: Mapped[str | None] = mapped_column(String(1), nullable=True)
    channel: Mapped[str] = mapped_column(String(20), index=True)
    category: Mapped[str] = mapped_column(String(20), index=True)
    severity: Mapped[str] = mapped_column(String(10), index=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    remedy_sought: Mapped[str | None] = mapped_column(Text, nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    respond_by: Mapped[datetime] = mapped_column(UTCDateTime())
    resolve_by: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    root_cause: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resolution_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    client_accepted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    waiting_s: Mapped[int] = mapped_column(BigInteger, default=0)
    pause_extension_s: Mapped[int] = mapped_column(BigInteger, default=0)
    response_breach_published: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_breach_published: Mapped[bool] = mapped_column(Boolean, default=False)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    time_to_acknowledge_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    time_to_resolve_s: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    client_erased: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_complaint_status_respond_by", "status", "respond_by"),
        Index("ix_complaint_status_resolve_by", "status", "resolve_by"),
    )


class TimelineEntryRecord(Base):
    __tablename__ = "complaint_timeline"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaint.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_complaint_timeline_complaint_id_id", "complaint_id", "id"),
                      # the report's backlog reads the entries after a moment
                      Index("ix_complaint_timeline_at", "at"))


class RefCounterRecord(Base):
    __tablename__ = "complaint_ref_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(BigInteger)


class KnownClientRecord(Base):
    """What this service knows of a client, from registry events only.

    Each attribute group remembers the time of the event it came from, so an older event
    delivered late never overwrites newer state: ``profile_at`` (name, from
    ``client.registered``/``client.updated``), ``tier_at`` (tier, from those and
    ``client.value.changed``), ``status_at`` (active/archived). ``erased`` is final whatever
    the order. ``registered`` is false while only a ``client.value.changed`` has arrived.
    """

    __tablename__ = "known_client"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    tier: Mapped[str | None] = mapped_column(String(1), nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    registered: Mapped[bool] = mapped_column(Boolean, default=False)
    profile_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    tier_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ServiceStateRecord(Base):
    __tablename__ = "service_state"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ImprovementRecord(Base):
    """An improvement action (corrective action) addressing one root cause of complaints."""

    __tablename__ = "improvement"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    root_cause: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    category: Mapped[str | None] = mapped_column(String(20), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer)


class ImprovementEntryRecord(Base):
    """One line of an improvement action's timeline (creation, action, correction)."""

    __tablename__ = "improvement_timeline"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    improvement_id: Mapped[str] = mapped_column(ForeignKey("improvement.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_improvement_timeline_improvement_id_id", "improvement_id", "id"),)
