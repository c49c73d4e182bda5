"""``clientloop up --demo``: a small, realistic portfolio for a first look.

Twelve clients covering every kind and category, named in Chinese and English, with contacts,
tags, owners, stakeholder positions and annual values across the three tiers; five of them have
a communication plan and a few logged interactions (three are due for follow-up today). Loaded
only while the registry has no client, through the same use cases as the API, so every client
is announced on the bus like any other. The clients have fixed ids (``shared.demo``): the other
services give their demo answers and complaints to those clients only. Satisfaction and value
move when the survey and complaints services publish feedback and complaints.

Three clients also have requirements in several states (proposed, analysed, approved, in
progress, delivered, accepted, rejected, one overdue), and one approved requirement has two
change requests: one approved (applied to it) and one rejected, decided by a second staff name
(four eyes).

So that the forecasts have something to show (``/api/v1/forecasts``, the portfolio page):

* two clients have satisfaction ledgers from survey responses over the last two months, applied
  the way the registry applies any feedback event (``records.apply_events``, at their own
  backdated times): the sponsor's (陈军) falls (90 → about 58, some −0.6 a day) so he is listed
  at risk, his health band projected to turn from healthy to at risk within weeks; the finance
  department's stays level about 80, so it is not;
* 18 months of finished requirements before the current month (2 to 6 a month, drawn with a
  fixed seed; accepted or rejected, about half with a change request decided by a second staff
  name), so the monthly intake of requirements and change requests has a history the damped
  trend model (``ets_damped``) fits and backtests.
"""
from __future__ import annotations

import random
import uuid
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from services.registry import care, records, requirements, service
from services.registry.adapters.orm import ClientRecord
from shared.bus.envelope import Event, build_envelope
from shared.clock import isoformat_z
from shared.demo import CLIENT_IDS

DEMO_BY = "demo"
DEMO_DECIDER = "demo-pmo"  # decides the demo's change requests (never their submitter)

# (client index, fields, the actions that bring it to its state)
_REQUIREMENTS = [
    (0, {"title": "每月用量导出（CSV）", "priority": "must", "source": "workshop",
         "acceptance_criteria": ["每个站点每天一行", "可在 Excel 中打开"], "due_after_days": 45},
     ("analyse", "approve", "start")),
    (0, {"title": "单点登录（企业微信）", "priority": "should", "source": "interview",
         "due_after_days": -5}, ("analyse",)),
    (0, {"title": "Quarterly service review pack", "priority": "could", "source": "meeting"}, ()),
    (1, {"title": "Delivery status notifications by SMS", "priority": "must",
         "source": "complaint", "source_ref": "CMP-000001", "due_after_days": 20},
     ("analyse", "approve", "start", "deliver", "accept")),
    (1, {"title": "On-site training for new staff", "priority": "should", "source": "survey",
         "due_after_days": 10}, ("analyse", "approve", "start", "deliver")),
    (2, {"title": "Paper invoices by post", "priority": "wont", "source": "document"},
     ("reject",)),
]
_ACTION_FIELDS = {"deliver": {"note": "Released to the client's test environment."},
                  "reject": {"reason": "Electronic invoices only, by policy."}}

#: (client index, survey responses as (days ago, score, comment)): the sponsor's (陈军)
#: satisfaction falls, the finance department's stays level (S moves 30 % of the way to each
#: score). Neither is an external client, whom the complaints demo gives complaints.
_SATISFACTION = [
    (4, ((58, 90, None), (48, 72, "里程碑 M3 又延期了。"), (38, 66, None),
         (27, 58, "测试资源仍未到位。"), (17, 48, None), (6, 40, "对项目进度越来越担心。"))),
    (6, ((55, 80, None), (42, 82, "预算对账及时。"), (28, 78, None), (14, 81, None),
         (3, 80, None))),
]
_NAMESPACE = uuid.UUID("6f1d0c52-3c1e-4a57-9d86-2f4f3c1b7a10")  # the demo's fixed event ids

HISTORY_MONTHS = 18
HISTORY_SEED = 8  # a draw whose backtest beats the naive forecast (MASE < 1)
_HISTORY_TITLES = (
    "门店销售日报", "Delivery tracking page", "发票抬头批量修改", "Role-based access for managers",
    "库存预警短信", "Bulk upload of price lists", "年度合同续签提醒", "API for order status",
    "售后工单导出", "Weekly KPI e-mail", "多仓库调拨", "Audit log of price changes",
)
_HISTORY_CLIENTS = (0, 1, 2, 3, 8, 10)  # the external and potential clients that ask for things


def _money(amount: str, currency: str) -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def _clients(currency: str) -> list[dict]:
    return [
        {"name": "华为技术有限公司", "kind": "external", "category": "enterprise",
         "contacts": [{"name": "张伟", "email": "zhang.wei@example.cn", "phone": "+86 755 2878 0000",
                       "role": "采购总监"}],
         "tags": ["通信", "战略客户"], "owner": "李娜", "preferred_language": "zh-CN",
         "power": 5, "interest": 4, "engagement_current": "supportive",
         "engagement_desired": "leading", "annual_value": _money("2500000.00", currency)},
        {"name": "深圳市地铁集团 Shenzhen Metro Group", "kind": "external", "category": "government",
         "contacts": [{"name": "刘洋", "email": "liu.yang@example.cn", "role": "项目经理"}],
         "tags": ["政府", "轨道交通"], "owner": "王强", "preferred_language": "zh-CN",
         "power": 5, "interest": 3, "annual_value": _money("1200000.00", currency)},
        {"name": "Northwind Traders", "kind": "external", "category": "enterprise",
         "contacts": [{"name": "Sarah Mitchell", "email": "sarah.mitchell@example.com",
                       "phone": "+44 20 7946 0000", "role": "Head of Operations"}],
         "tags": ["retail", "EMEA"], "owner": "Tom Baker", "preferred_language": "en",
         "power": 3, "interest": 4, "annual_value": _money("480000.00", currency)},
        {"name": "王芳", "kind": "external", "category": "individual",
         "contacts": [{"name": "王芳", "email": "wang.fang@example.cn"}],
         "tags": ["个人"], "owner": "李娜", "preferred_language": "zh-CN",
         "annual_value": _money("36000.00", currency)},
        {"name": "陈军 (项目发起人 Sponsor)", "kind": "internal", "category": "stakeholder",
         "contacts": [{"name": "陈军", "email": "chen.jun@example.cn", "role": "副总裁"}],
         "tags": ["发起人"], "owner": "李娜", "preferred_language": "zh-CN",
         "power": 5, "interest": 5, "engagement_current": "neutral",
         "engagement_desired": "leading"},
        {"name": "Emily Carter", "kind": "internal", "category": "team_member",
         "contacts": [{"name": "Emily Carter", "email": "emily.carter@example.com",
                       "role": "Tech lead"}],
         "tags": ["engineering"], "owner": "Tom Baker", "preferred_language": "en",
         "power": 3, "interest": 5, "engagement_current": "supportive",
         "engagement_desired": "supportive"},
        {"name": "财务部 Finance Department", "kind": "internal", "category": "department",
         "contacts": [{"name": "赵敏", "email": "zhao.min@example.cn", "role": "财务经理"}],
         "tags": ["支持部门"], "owner": "王强", "preferred_language": "zh-CN",
         "power": 4, "interest": 2, "engagement_current": "neutral",
         "engagement_desired": "supportive"},
        {"name": "PMO 项目管理办公室", "kind": "internal", "category": "department",
         "contacts": [{"name": "孙丽", "email": "sun.li@example.cn", "role": "PMO 主任"}],
         "tags": ["治理"], "owner": "李娜", "preferred_language": "zh-CN",
         "power": 4, "interest": 4},
        {"name": "Contoso Retail", "kind": "potential", "category": "prospect",
         "contacts": [{"name": "James Wilson", "email": "james.wilson@example.com",
                       "role": "CIO"}],
         "tags": ["pipeline", "retail"], "owner": "Tom Baker", "preferred_language": "en",
         "power": 2, "interest": 3, "engagement_current": "unaware",
         "engagement_desired": "neutral", "annual_value": _money("250000.00", currency)},
        {"name": "长三角中小制造企业", "kind": "potential", "category": "segment",
         "contacts": [], "tags": ["细分市场", "制造业"], "owner": "王强",
         "preferred_language": "zh-CN", "annual_value": _money("90000.00", currency)},
        {"name": "移动端用户 Mobile app users", "kind": "end_user", "category": "end_user",
         "contacts": [{"name": "用户运营 User operations", "email": "ops@example.cn"}],
         "tags": ["app", "终端用户"], "owner": "李娜", "preferred_language": "zh-CN",
         "annual_value": _money("150000.00", currency)},
        {"name": "Oliver Brown", "kind": "end_user", "category": "end_user",
         "contacts": [{"name": "Oliver Brown", "email": "oliver.brown@example.com"}],
         "tags": ["beta tester"], "owner": "Tom Baker", "preferred_language": "en"},
    ]


# (client index, plan, interactions as (days ago, channel, summary, staff))
_CARE = [
    (0, {"goal": "季度业务回顾，确认二期需求", "channel": "meeting", "frequency_days": 30},
     [(40, "meeting", "一期验收会议，客户对交付进度满意。", "李娜"),
      (12, "phone", "电话沟通二期预算，客户需要内部审批。", "李娜")]),
    (2, {"goal": "Keep operations informed of the rollout schedule", "channel": "email",
         "frequency_days": 14},
     [(20, "email", "Sent the rollout plan for the second wave of stores.", "Tom Baker")]),
    (4, {"goal": "每两周向发起人汇报里程碑与风险", "channel": "meeting", "frequency_days": 14},
     [(16, "meeting", "汇报里程碑 M3 延期风险，发起人同意增加测试资源。", "李娜")]),
    (8, {"goal": "Qualify the opportunity and arrange a demo", "channel": "phone",
         "frequency_days": 21},
     [(5, "phone", "Intro call; they want a demo for the store managers.", "Tom Baker")]),
    (6, {"goal": "月度预算执行对账", "channel": "im", "frequency_days": 30}, []),
]


def load_demo(ctx) -> int:
    """Load the demo portfolio unless the registry already has clients. Returns how many
    clients were created."""
    rules = ctx.extras["rules"]
    now = ctx.clock()
    with ctx.database.transaction() as session:
        if session.execute(select(func.count(ClientRecord.id))).scalar_one():
            return 0
        clients = [service.register_client(session, fields, now=now, rules=rules,
                                           client_id=client_id)
                   for client_id, fields in zip(CLIENT_IDS, _clients(rules.clients.currency),
                                                strict=True)]
        for index, plan, interactions in _CARE:
            client = clients[index]
            starts_on = care.today(now, rules) - timedelta(days=60)
            care.put_plan(session, client.id, {**plan, "starts_on": starts_on},
                          expected_version=None, now=now, by=DEMO_BY, rules=rules)
            for days_ago, channel, summary, staff in interactions:
                care.log_interaction(session, client.id,
                                     {"channel": channel, "summary": summary, "staff": staff,
                                      "occurred_at": now - timedelta(days=days_ago)},
                                     now=now, by=DEMO_BY, rules=rules)
        _load_requirements(session, clients, now=now, rules=rules)
        _load_requirement_history(session, clients, now=now, rules=rules)
        _load_satisfaction(session, clients, now=now, rules=rules)
    return len(clients)


def _load_satisfaction(session, clients, *, now, rules) -> None:
    """Survey responses applied as the registry applies them from the bus, backdated."""
    events = []
    for index, responses in _SATISFACTION:
        client_id = clients[index].id
        for number, (days_ago, score, comment) in enumerate(responses):
            at = now - timedelta(days=days_ago, hours=number)
            key = f"{index}-{number}"
            data = {"client_id": client_id,
                    "response_id": str(uuid.uuid5(_NAMESPACE, "response-" + key)),
                    "survey_id": str(uuid.uuid5(_NAMESPACE, "survey")),
                    "invitation_id": str(uuid.uuid5(_NAMESPACE, "invitation-" + key)),
                    "submitted_at": isoformat_z(at), "score": score, "scoring_version": "1",
                    "nps": None, "nps_category": None, "csat": None, "ces": None,
                    "comment": comment}
            events.append(Event.from_envelope(build_envelope(
                service="survey", event_type="survey.response.submitted", subject=client_id,
                data=data, time=at, sequence=len(events) + 1,
                event_id=str(uuid.uuid5(_NAMESPACE, "event-" + key)))))
    records.apply_events(session, events, now=now, rules=rules)


def _month_starts(today: date, count: int) -> list[date]:
    """The first days of the ``count`` months before ``today``'s, oldest first."""
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        months.append(date(year, month, 1))
    return months[::-1]


def _load_requirement_history(session, clients, *, now, rules) -> None:
    """Finished requirements (and their change requests), a few a month for
    :data:`HISTORY_MONTHS` months, each created and moved on at its own backdated time."""
    draw = random.Random(HISTORY_SEED)
    for number, month in enumerate(_month_starts(care.today(now, rules), HISTORY_MONTHS)):
        for _ in range(2 + number // 6 + draw.randint(0, 2)):  # an intake growing slowly
            created = datetime.combine(month.replace(day=draw.randint(1, 26)),
                                       time(draw.randint(9, 17)), tzinfo=rules.zone)
            _finished_requirement(session, clients[draw.choice(_HISTORY_CLIENTS)].id, draw,
                                  created=created, now=now, rules=rules)


def _finished_requirement(session, client_id, draw: random.Random, *, created: datetime, now,
                          rules) -> None:
    span = min(timedelta(days=21), (now - created) * 0.8)  # every step before now

    def at(share: float) -> datetime:
        return created + span * share

    rejected = draw.random() < 0.2
    changed = None if rejected else draw.choice((None, "approve", "reject"))
    record = requirements.create_requirement(session, client_id, {
        "title": draw.choice(_HISTORY_TITLES), "priority": draw.choice(("must", "should", "could")),
        "source": draw.choice(("workshop", "interview", "meeting", "survey", "complaint")),
        "due_on": created.date() + timedelta(days=30)}, now=created, by=DEMO_BY)
    steps = [("analyse", 0.1), ("reject", 0.3)] if rejected else \
        [("analyse", 0.1), ("approve", 0.2), ("start", 0.3), ("deliver", 0.7), ("accept", 0.9)]
    for action, share in steps:
        if action == "deliver" and changed:
            change = requirements.submit_change_request(
                session, record.id, {"summary": "Move the due date by two weeks",
                                     "impact": {"schedule_days": 14, "risk": "low"},
                                     "proposed": {"due_on": record.due_on + timedelta(days=14)}},
                now=at(0.4), by=DEMO_BY, rules=rules)
            requirements.decide(session, change.id, changed, None, expected_version=None,
                                now=at(0.5), by=DEMO_DECIDER, rules=rules)
        fields = {"reason": "Out of scope for this contract."} if action == "reject" else \
            _ACTION_FIELDS.get(action, {})
        requirements.act(session, record.id, action, fields, expected_version=None,
                         now=at(share), by=DEMO_BY)


def _load_requirements(session, clients, *, now, rules) -> None:
    today = care.today(now, rules)
    baselined = None
    for index, fields, actions in _REQUIREMENTS:
        fields = dict(fields)
        due = fields.pop("due_after_days", None)
        if due is not None:
            fields["due_on"] = today + timedelta(days=due)
        record = requirements.create_requirement(session, clients[index].id, fields, now=now,
                                                 by=DEMO_BY)
        for action in actions:
            requirements.act(session, record.id, action, _ACTION_FIELDS.get(action, {}),
                             expected_version=None, now=now, by=DEMO_BY)
        if baselined is None and record.status == "in_progress":
            baselined = record
    impact = {"schedule_days": 14, "risk": "medium",
              "cost": {"amount": "18000.00", "currency": rules.clients.currency}}
    approved = requirements.submit_change_request(
        session, baselined.id, {"summary": "客户要求增加按部门汇总", "impact": impact,
                                "proposed": {"acceptance_criteria": [
                                    "每个站点每天一行", "可在 Excel 中打开", "按部门汇总"],
                                    "due_on": baselined.due_on + timedelta(days=14)}},
        now=now, by=DEMO_BY, rules=rules)
    requirements.decide(session, approved.id, "approve", "已与客户确认交付日期。",
                        expected_version=None, now=now, by=DEMO_DECIDER, rules=rules)
    rejected = requirements.submit_change_request(
        session, baselined.id, {"summary": "Deliver earlier for the year-end audit",
                                "impact": {"schedule_days": 0, "risk": "low", "cost": None},
                                "proposed": {"due_on": today + timedelta(days=20)}},
        now=now, by=DEMO_BY, rules=rules)
    requirements.decide(session, rejected.id, "reject", "The team cannot deliver earlier; the date stays.",
                        expected_version=None, now=now, by=DEMO_DECIDER, rules=rules)
