"""Survey tables (SQLAlchemy 2 declarative) and the platform tables of the survey database.

* ``survey``: a definition (JSON, canonical form of ``SurveyDefinition.to_dict()``) and its life.
* ``survey_client``: the service's own copy of the clients it may invite, learnt from registry
  events (never by calling the registry); scrubbed on ``client.erased``.
* ``invitation``: one client's request to answer one survey; ``invitation_link``: its link
  tokens, by SHA-256 hash only (several after a resend).
* ``survey_response``: at most one per invitation — ``UNIQUE (invitation_id)`` is what makes a
  second submit impossible, however many arrive at the same instant.
* ``response_tally`` and ``invitation_tally``: what results count, per survey, UTC day and slot,
  kept by database triggers (migration ``adc002871886``), not by this code.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Date, ForeignKey, Index, Integer,
                        Numeric, SmallInteger, String, Table, Text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, define_platform_tables, new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


metadata = Base.metadata
platform = define_platform_tables(metadata)


class SurveyRecord(Base):
    __tablename__ = "survey"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), index=True)
    definition: Mapped[dict] = mapped_column(JSON)
    send_after_complaint_resolved: Mapped[bool] = mapped_column(Boolean, default=False,
                                                                index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ClientEntry(Base):
    """What the survey service knows about a client, from the registry's events.

    ``known`` is false while only a tier or a status arrived (events out of order): such a
    client cannot be invited yet. Each group of fields remembers the ``sequence`` of the event
    that last set it, so an older event arriving late never overwrites a newer one.
    """

    __tablename__ = "survey_client"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    known: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    category: Mapped[str | None] = mapped_column(String(30), nullable=True)
    tier: Mapped[str | None] = mapped_column(String(1), nullable=True)
    preferred_language: Mapped[str | None] = mapped_column(String(10), nullable=True)
    contacts: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="active")
    profile_sequence: Mapped[str | None] = mapped_column(String(40), nullable=True)
    tier_sequence: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status_sequence: Mapped[str | None] = mapped_column(String(40), nullable=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InvitationRecord(Base):
    __tablename__ = "invitation"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("survey.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    language: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    #: The complaint whose resolution caused this invitation (one invitation per complaint).
    complaint_id: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True)
    #: Where links point: ``{base}/s/{token}``; kept for links issued outside a request.
    link_base: Mapped[str] = mapped_column(String(500))
    delivery: Mapped[str] = mapped_column(String(10))
    delivery_status: Mapped[str] = mapped_column(String(15), index=True)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivery_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivery_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        # Results: a survey's invitations by creation time (answered_at stays out of every
        # index, and PostgreSQL leaves room in each page, so that answering a link updates its
        # invitation in place without touching an index: a HOT update).
        Index("ix_invitation_survey_created", "survey_id", "created_at"),
        {"postgresql_with": {"fillfactor": 85}},
    )


class InvitationLinkRecord(Base):
    __tablename__ = "invitation_link"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    invitation_id: Mapped[str] = mapped_column(ForeignKey("invitation.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: ``answer``: shown in an API answer; ``email``: issued by the email delivery step.
    issued_for: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ResponseRecord(Base):
    __tablename__ = "survey_response"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("survey.id"))
    invitation_id: Mapped[str] = mapped_column(ForeignKey("invitation.id"), unique=True)
    client_id: Mapped[str] = mapped_column(String(36), index=True)
    language: Mapped[str] = mapped_column(String(10))
    answers: Mapped[dict] = mapped_column(JSON)
    score: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), nullable=True)
    scoring_version: Mapped[str] = mapped_column(String(40))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The answers to the survey's first NPS, CSAT and CES questions (``scoring.first_answers``,
    #: as the feedback event carries them), kept beside ``answers`` so results count columns.
    nps: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    csat: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    ces: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)

    __table_args__ = (
        # A survey's responses in the order they are listed and exported (time, then id): the
        # list's pages and counts, the CSV export's batches; a far page reads the index in
        # order instead of sorting the survey's rows.
        Index("ix_survey_response_survey_submitted", "survey_id", "submitted_at", "id"),
        # Results: everything they count, in an index of their own, so that results by period
        # read no table row (SQLite and PostgreSQL alike) and the index above stays narrow.
        Index("ix_survey_response_results", "survey_id", "submitted_at", "score", "nps", "csat",
              "ces"),
    )


#: The NPS and CSAT answers a tally counts one by one; an answer beyond the scale (only plain
#: SQL can store one) counts at the scale's end.
NPS_VALUES = range(0, 11)
CSAT_VALUES = range(1, 6)


def _tally_key() -> list[Column]:
    # ``slot``: PostgreSQL writes a row per backend (``pg_backend_pid() % 64``) so that writers
    # of one survey and day seldom wait on each other; SQLite writes slot 0. Only the sum of a
    # key's slots means anything (one slot may be negative). The periodic jobs fold the slots
    # of the days before yesterday into slot 0 (``results.fold_tally_slots``).
    return [Column("survey_id", String(36), primary_key=True),
            Column("day", Date, primary_key=True),
            Column("slot", SmallInteger, primary_key=True)]


#: Responses per survey and UTC day of ``submitted_at``: how many, scores (count and sum in
#: hundredths), the first NPS and CSAT answers by value, the first CES answers (count and sum).
#: Written only by the triggers on ``survey_response``.
response_tally = Table(
    "response_tally", metadata, *_tally_key(),
    Column("responses", Integer, nullable=False),
    Column("scored", Integer, nullable=False),
    Column("score_cents", BigInteger, nullable=False),
    *(Column(f"nps_{value}", Integer, nullable=False) for value in NPS_VALUES),
    *(Column(f"csat_{value}", Integer, nullable=False) for value in CSAT_VALUES),
    Column("ces_answered", Integer, nullable=False),
    Column("ces_sum", BigInteger, nullable=False),
)

#: Invitations per survey and UTC day of ``created_at``: how many, how many answered. Written
#: only by the triggers on ``invitation``.
invitation_tally = Table(
    "invitation_tally", metadata, *_tally_key(),
    Column("invitations", Integer, nullable=False),
    Column("answered", Integer, nullable=False),
)
