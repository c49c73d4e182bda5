"""How the console names the registry's codes (kinds, categories, tiers, bands, levels,
channels, event types) in the reader's language. Each label is a literal English string passed
to ``_()`` here, so the catalogue test finds it; an unknown code is shown as it is."""
from __future__ import annotations

from typing import Mapping

from shared.web.console import _


def labels() -> Mapping[str, Mapping[str, str]]:
    """``labels()[group][code]`` for the current language."""
    return {
        "kind": {"internal": _("Internal"), "external": _("External"),
                 "potential": _("Potential"), "end_user": _("End user")},
        "category": {"stakeholder": _("Stakeholder"), "team_member": _("Team member"),
                     "department": _("Department"), "enterprise": _("Enterprise"),
                     "individual": _("Individual"), "government": _("Government"),
                     "prospect": _("Prospect"), "segment": _("Segment"),
                     "end_user": _("End user")},
        "tier": {"A": _("Tier A"), "B": _("Tier B"), "C": _("Tier C")},
        "band": {"healthy": _("Healthy"), "at_risk": _("At risk"), "critical": _("Critical")},
        "status": {"archived": _("Archived"), "erased": _("Erased")},  # badges (not "active")
        # the list's filter ("Active" alone is a survey's state in another service's words)
        "status_filter": {"active": _("Active clients"), "archived": _("Archived clients"),
                          "erased": _("Erased clients"), "all": _("All clients")},
        "severity": {"low": _("Low"), "medium": _("Medium"), "high": _("High"),
                     "critical": _("Critical")},
        "level": {"unaware": _("Unaware"), "resistant": _("Resistant"), "neutral": _("Neutral"),
                  "supportive": _("Supportive"), "leading": _("Leading")},
        "strategy": {"manage_closely": _("Manage closely"), "keep_satisfied": _("Keep satisfied"),
                     "keep_informed": _("Keep informed"), "monitor": _("Monitor")},
        "language": {"zh-CN": _("Chinese (zh-CN)"), "en": _("English (en)")},
        "channel": {"meeting": _("Meeting"), "email": _("Email"), "phone": _("Phone"),
                    "im": _("Instant message"), "visit": _("Visit"), "other": _("Other")},
        "requirement_status": {"proposed": _("Proposed"), "analysed": _("Analysed"),
                               "approved": _("Approved"), "in_progress": _("In progress"),
                               "delivered": _("Delivered"), "accepted": _("Accepted"),
                               "rejected": _("Rejected"), "withdrawn": _("Withdrawn")},
        "priority": {"must": _("Must have"), "should": _("Should have"),
                     "could": _("Could have"), "wont": _("Won't have")},
        "risk": {"low": _("Low"), "medium": _("Medium"), "high": _("High")},
        "change_status": {"submitted": _("Submitted"), "approved": _("Approved"),
                          "rejected": _("Rejected"), "withdrawn": _("Withdrawn")},
        "field": {"title": _("Title"), "description": _("Description"),
                  "priority": _("Priority"), "due_on": _("Due on"),
                  "acceptance_criteria": _("Acceptance criteria")},
        "event": {"survey.response.submitted": _("Survey response"),
                  "complaint.opened": _("Complaint opened"),
                  "complaint.resolved": _("Complaint resolved"),
                  "complaint.reopened": _("Complaint reopened"),
                  "complaint.reclassified": _("Complaint reclassified"),
                  "client.registered": _("Client registered"),
                  "client.updated": _("Client updated")},
    }


def label(group: str, code: str | None) -> str:
    """The label of ``code`` in ``group`` (an em dash for None, the code itself if unknown)."""
    if code is None or code == "":
        return "—"
    return labels().get(group, {}).get(code, code)
