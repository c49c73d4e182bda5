"""The complaints domain: plain Python, no framework.

* :mod:`.workflow` — statuses, actions, the transition table, ``allowed_actions``
* :mod:`.fields` — what each action, the opening, a correction and a note accept
* :mod:`.complaint` — the ``Complaint`` entity, ``open_complaint``, ``TimelineEntry``
* :mod:`.sla` — deadlines, pauses, overdue and breach rules
* :mod:`.events` — the published event catalogue and ``DomainEvent``
* :mod:`.rules` — every configurable constant (``ComplaintRules``, ``DEFAULT_RULES``)
* :mod:`.refs` — ``CMP-000123`` references
* :mod:`.reports` — the arithmetic of the complaint analysis
* :mod:`.improvement` — improvement actions, their effect, the one root-cause normalisation
* :mod:`.vocabulary` — channels, categories, severities, resolution codes
"""
from .complaint import Complaint, TimelineEntry, open_complaint
from .events import DomainEvent
from .rules import DEFAULT_RULES, ComplaintRules, SeverityTargets, SlaPolicy, TextLimits
from .workflow import Action, Status, allowed_actions

__all__ = [
    "Action", "Complaint", "ComplaintRules", "DEFAULT_RULES", "DomainEvent",
    "SeverityTargets", "SlaPolicy", "Status", "TextLimits", "TimelineEntry",
    "allowed_actions", "open_complaint",
]
