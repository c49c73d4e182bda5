"""The root-cause Pareto and the effect of improvement actions over real complaint histories;
the complaints report groups root causes exactly as the Pareto does."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.complaints.complaints_helpers import VALID_FIELDS
from tests.complaints.test_improvements_api import acted, created

DAY = timedelta(days=1)


def resolved(api, root_cause, *, late=False, reopen=False, severity="medium"):
    """A complaint opened now and resolved with ``root_cause`` (``late``: acknowledged after
    its response deadline — a breach; ``reopen``: reopened, then resolved again)."""
    complaint = api.opened(severity=severity)
    api.clock.advance(hours=9 if late else 1)
    api.acted(complaint["id"], "acknowledge")
    api.acted(complaint["id"], "resolve", **{**VALID_FIELDS["resolve"],
                                             "root_cause": root_cause})
    if reopen:
        api.acted(complaint["id"], "reopen")
        api.acted(complaint["id"], "resolve", **{**VALID_FIELDS["resolve"],
                                                 "root_cause": root_cause})
    return complaint


def pareto(api, **query):
    response = api.client.get("/api/v1/reports/root-causes", query_string=query,
                              headers=api.headers("analyst"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_pareto_shape_order_shares_and_actions(api):
    api.clock.set(datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
    for spelling in ("Late  Delivery", "late delivery", "Late Delivery"):
        resolved(api, spelling, late=True)
    resolved(api, "Defect", reopen=True)
    resolved(api, "defect")
    resolved(api, "Billing error")
    api.opened()  # no root cause: not counted
    action = created(api, title="Carrier SLA", root_cause="LATE delivery")
    body = pareto(api, **{"from": "2025-03-01", "to": "2025-03-31"})
    assert (body["from"], body["to"], body["total"]) == ("2025-03-01", "2025-03-31", 6)
    assert [(i["root_cause"], i["complaints"], i["share"], i["cumulative_share"],
             i["breached"], i["reopened"]) for i in body["items"]] == [
        ("Late Delivery", 3, 50.0, 50.0, 3, 0),  # the most frequent spelling
        ("Defect", 2, 33.33, 83.33, 0, 1),
        ("Billing error", 1, 16.67, 100.0, 0, 0)]
    assert body["items"][0]["actions"] == [{"id": action["id"], "title": "Carrier SLA",
                                            "status": "planned"}]
    assert body["items"][1]["actions"] == []
    empty = pareto(api, **{"from": "2025-04-01", "to": "2025-04-30"})
    assert (empty["total"], empty["items"]) == (0, [])
    assert api.client.get("/api/v1/reports/root-causes?colour=red",
                          headers=api.headers()).status_code == 422


def test_complaints_report_and_pareto_agree_on_normalised_root_causes(api):
    for spelling in ("Late  Delivery", "late delivery", "late delivery", "Defect"):
        resolved(api, spelling)
    report = api.report(**{"from": "2025-03-01", "to": "2025-03-31"}).get_json()
    items = pareto(api, **{"from": "2025-03-01", "to": "2025-03-31"})["items"]
    assert report["by_root_cause"] == {"late delivery": 3, "Defect": 1}
    assert {item["root_cause"]: item["complaints"] for item in items} == report["by_root_cause"]


def test_effect_over_a_complaint_history_shows_the_fall(api):
    start = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    api.clock.set(start)
    for _ in range(6):  # 6 in the 90 days before the start: 2 per 30 days
        resolved(api, "Late delivery")
        api.clock.advance(days=10)
    resolved(api, "Defect")  # another root cause: not counted
    api.clock.set(start + 90 * DAY)
    action = created(api, root_cause="late  DELIVERY")
    acted(api, action["id"], "start")
    api.clock.advance(days=10)
    done = acted(api, action["id"], "complete")
    done_at = api.clock.now
    assert done["effect"]["after"] is None
    api.clock.advance(days=5)
    resolved(api, "Late delivery")
    api.clock.set(done_at + 30 * DAY)
    body = api.client.get(f"/api/v1/improvements/{action['id']}",
                          headers=api.headers()).get_json()
    assert body["effect"] == {
        "before": {"complaints": 6, "days": 90.0, "per_30_days": 2.0},
        "after": {"complaints": 1, "days": 30.0, "per_30_days": 1.0},
        "change_percent": -50.0}
    listed = api.client.get("/api/v1/improvements", headers=api.headers()).get_json()
    assert listed["items"][0]["effect"] == body["effect"]
