"""Registry tables (SQLAlchemy 2 declarative) and the platform tables of its database."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, define_platform_tables, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


metadata = Base.metadata
platform = define_platform_tables(metadata)


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
    satisfaction: Mapped[Decimal | None] = mapped_column(Numeric(12, 6), nullable=True)
    health_score: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    health_band: Mapped[str] = mapped_column(String(10), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)
    search_text: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ClientTagRecord(Base):
    """One row per tag, so the list can filter by tag in plain SQL on every database."""

    __tablename__ = "client_tag"

    client_id: Mapped[str] = mapped_column(ForeignKey("client.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)

    __table_args__ = (Index("ix_client_tag_tag", "tag"),)
