"""``clientloop up --demo``: a small, realistic portfolio for a first look.

Twelve clients covering every kind and category, named in Chinese and English, with contacts,
tags, owners, stakeholder positions and annual values across the three tiers; five of them have
a communication plan and a few logged interactions (three are due for follow-up today). Loaded
only while the registry has no client, through the same use cases as the API, so every client
is announced on the bus like any other. Satisfaction and value move when the survey and
complaints services publish feedback and complaints.

Three clients also have requirements in several states (proposed, analysed, approved, in
progress, delivered, accepted, rejected, one overdue), and one approved requirement has two
change requests: one approved (applied to it) and one rejected, decided by a second staff name
(four eyes).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from services.registry import care, requirements, service
from services.registry.adapters.orm import ClientRecord

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
        clients = [service.register_client(session, fields, now=now, rules=rules)
                   for fields in _clients(rules.clients.currency)]
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
    return len(clients)


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
