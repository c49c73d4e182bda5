"""The closed vocabularies of a complaint.

Each tuple is in the order the product presents it (forms, reports, documentation).
"""
from __future__ import annotations

CHANNELS: tuple[str, ...] = ("phone", "email", "web", "meeting", "survey", "other")
"""How the complaint reached the organisation."""

CATEGORIES: tuple[str, ...] = (
    "product", "service", "delivery", "billing", "communication", "other",
)
"""What the complaint is about."""

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
"""How serious the complaint is, least to most; drives the SLA and the registry's penalty."""

RESOLUTION_CODES: tuple[str, ...] = (
    "fixed",        # the cause was corrected (defect fixed, process changed)
    "refund",       # money returned in whole or in part
    "replacement",  # the product or deliverable was replaced or redone
    "explanation",  # nothing was wrong; the client received an explanation
    "goodwill",     # a gesture (discount, credit, extra service) without admitting fault
    "no_action",    # reviewed, and the organisation decided not to act
    "other",        # anything else; the summary says what
)
"""How a complaint was resolved: a short closed list for reports, with the detail in the
resolution ``summary`` and the cause in the free-text ``root_cause``."""

SYSTEM_ACTOR = "system"
"""The ``by`` of what the service does on its own (the automatic close)."""
