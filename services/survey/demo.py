"""``clientloop up --demo``: two bilingual surveys, loaded only while the service has none.

* "Client satisfaction survey" — active, one question of every type;
* "After your complaint" — active and marked ``send_after_complaint_resolved``, so resolving a
  demo complaint invites its client.

Demo answers (:data:`ANSWERS`) to the satisfaction survey, with comments in both languages on a
few recurring themes (logistics, price, support, the invoice), so the results page shows
feedback themes and detractor drivers. They go to the registry demo's clients only (their ids
are fixed, ``shared.demo``), never to a client someone else registered. This service learns
clients from registry events, which are still on their way when the demo is loaded: the answers
are added by the periodic jobs (``answer_if_pending``) as soon as demo clients are known, while
the demo survey has no invitation yet — once, and never on a survey anyone else created.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from services.survey import service
from services.survey.adapters.orm import ClientEntry, InvitationRecord, SurveyRecord
from shared.demo import CLIENT_IDS

DEMO = "demo"

SATISFACTION = {
    "title": {"zh-CN": "客户满意度调查", "en": "Client satisfaction survey"},
    "intro": {"zh-CN": "感谢您与我们合作。以下问题大约需要三分钟。",
              "en": "Thank you for working with us. These questions take about three minutes."},
    "languages": ["zh-CN", "en"],
    "questions": [
        {"key": "recommend", "type": "nps", "required": True, "weight": 2,
         "text": {"zh-CN": "您有多大可能向同事或朋友推荐我们？",
                  "en": "How likely are you to recommend us to a colleague or friend?"}},
        {"key": "satisfied", "type": "csat", "required": True,
         "text": {"zh-CN": "总体而言，您对我们的服务满意吗？",
                  "en": "Overall, how satisfied are you with our service?"}},
        {"key": "effort", "type": "ces",
         "text": {"zh-CN": "解决您的问题有多容易？", "en": "How easy was it to get your issue handled?"}},
        {"key": "delivery_quality", "type": "rating", "scale": 5,
         "text": {"zh-CN": "请为我们的交付质量打分。", "en": "Rate the quality of our delivery."}},
        {"key": "contact_channel", "type": "single_choice",
         "text": {"zh-CN": "您最常通过哪种方式联系我们？", "en": "How do you usually reach us?"},
         "options": [
             {"key": "phone", "label": {"zh-CN": "电话", "en": "Phone"}},
             {"key": "email", "label": {"zh-CN": "电子邮件", "en": "Email"}},
             {"key": "im", "label": {"zh-CN": "即时通讯", "en": "Instant messaging"}},
             {"key": "meeting", "label": {"zh-CN": "会议", "en": "Meetings"}}]},
        {"key": "value_for_money", "type": "single_choice",
         "text": {"zh-CN": "您如何评价我们的性价比？", "en": "How do you rate our value for money?"},
         "options": [
             {"key": "poor", "score": 0, "label": {"zh-CN": "较差", "en": "Poor"}},
             {"key": "fair", "score": 50, "label": {"zh-CN": "一般", "en": "Fair"}},
             {"key": "good", "score": 100, "label": {"zh-CN": "很好", "en": "Good"}}]},
        {"key": "improve", "type": "multi_choice",
         "text": {"zh-CN": "我们最应该改进哪些方面？", "en": "What should we improve first?"},
         "options": [
             {"key": "speed", "label": {"zh-CN": "响应速度", "en": "Response speed"}},
             {"key": "quality", "label": {"zh-CN": "交付质量", "en": "Delivery quality"}},
             {"key": "communication", "label": {"zh-CN": "沟通", "en": "Communication"}},
             {"key": "price", "label": {"zh-CN": "价格", "en": "Price"}}]},
        {"key": "comment", "type": "text",
         "text": {"zh-CN": "还有什么想告诉我们的吗？", "en": "Anything else you would like to tell us?"}},
    ],
}

FOLLOW_UP = {
    "title": {"zh-CN": "投诉处理回访", "en": "After your complaint"},
    "intro": {"zh-CN": "您的投诉已处理完毕。请告诉我们处理得怎么样。",
              "en": "Your complaint has been resolved. Please tell us how we handled it."},
    "languages": ["zh-CN", "en"],
    "send_after_complaint_resolved": True,
    "questions": [
        {"key": "resolution", "type": "csat", "required": True,
         "text": {"zh-CN": "您对投诉的处理结果满意吗？",
                  "en": "How satisfied are you with how your complaint was resolved?"}},
        {"key": "effort", "type": "ces", "required": True,
         "text": {"zh-CN": "让我们解决问题有多容易？", "en": "How easy was it to get it resolved?"}},
        {"key": "comment", "type": "text",
         "text": {"zh-CN": "还有什么需要我们改进的？", "en": "What could we have done better?"}},
    ],
}


def load_demo(ctx) -> int:
    """Create and publish the demo surveys; returns how many were created (0 if any exist)."""
    with ctx.database.transaction() as session:
        if session.execute(select(func.count()).select_from(SurveyRecord)).scalar_one():
            return 0
        now = ctx.clock()
        created = 0
        for fields in (SATISFACTION, FOLLOW_UP):
            survey = service.create_survey(session, fields, by=DEMO, now=now,
                                           rules=ctx.extras["rules"])
            service.publish_survey(session, survey.id, expected_version=None, now=now,
                                   rules=ctx.extras["rules"])
            created += 1
    return created


#: (NPS answer, CSAT answer, comment): recurring themes — 物流 (快递, 发货), 价格, 客服,
#: delivery, support, invoice — with the logistics comments from detractors.
ANSWERS: tuple[tuple[int, int, str], ...] = (
    (3, 2, "物流太慢了，等了一个多星期才收到。"),
    (4, 2, "快递包装破损，希望改进物流。"),
    (2, 1, "发货总是延迟，影响我们的项目进度。"),
    (5, 3, "物流信息不更新，不知道货到哪里了。"),
    (6, 3, "快递员态度一般，送货时间不固定。"),
    (8, 4, "价格还算合适，物流还可以再快一些。"),
    (2, 1, "客服电话很难打通，物流问题也没人跟进。"),
    (9, 5, "价格透明，客服响应及时。"),
    (6, 3, "价格偏高，发票开得太慢。"),
    (10, 5, "客服很专业，问题当天解决。"),
    (5, 3, "今年的价格贵了不少。"),
    (9, 4, "客服耐心，价格也公道。"),
    (4, 2, "Delivery was late twice this quarter and the courier lost a parcel."),
    (5, 2, "Shipping takes too long; delivery dates keep slipping."),
    (3, 2, "Late delivery again, and the shipment arrived damaged."),
    (5, 3, "The courier missed the delivery window twice."),
    (10, 5, "Support answered within an hour, very helpful."),
    (9, 5, "Great support team and a fair price."),
    (7, 4, "The invoice had errors again; support fixed it quickly."),
    (6, 3, "Price went up without notice and the invoice was unclear."),
    (8, 4, "Good support, but delivery could be faster."),
    (10, 5, "Clear invoice, reasonable price, friendly support."),
)


def _demo_survey(session) -> SurveyRecord | None:
    """The demo satisfaction survey, while it has no invitation (else ``None``)."""
    survey = session.execute(
        select(SurveyRecord).where(SurveyRecord.created_by == DEMO,
                                   SurveyRecord.status == "active",
                                   SurveyRecord.send_after_complaint_resolved.is_(False))
        .order_by(SurveyRecord.created_at, SurveyRecord.id).limit(1)).scalar_one_or_none()
    if survey is None or (survey.definition.get("title") or {}).get("en") != \
            SATISFACTION["title"]["en"]:
        return None
    invited = session.execute(select(func.count()).select_from(InvitationRecord).where(
        InvitationRecord.survey_id == survey.id)).scalar_one()
    return None if invited else survey


def answer_if_pending(ctx, now: datetime, link_base: str) -> int:
    """Answer the demo survey once demo clients are known (see the module's text); returns how
    many answers were added. No email is sent: the invitations are answered at once."""
    with ctx.database.transaction() as session:
        survey = _demo_survey(session)
        if survey is None:
            return 0
        clients = session.execute(
            select(ClientEntry.id, ClientEntry.preferred_language)
            .where(ClientEntry.id.in_(CLIENT_IDS), ClientEntry.known.is_(True),
                   ClientEntry.status == "active", ClientEntry.erased_at.is_(None))
            .order_by(ClientEntry.name, ClientEntry.id)).all()
        if not clients:
            return 0
        rules = ctx.extras["rules"]
        count = len(ANSWERS)
        for index, (nps, csat, comment) in enumerate(ANSWERS):
            client_id, language = clients[index % len(clients)]
            # spread over the last weeks, oldest first, so the results show months too
            moment = now - timedelta(days=3 * (count - index), hours=index)
            issued = service.invite_clients(
                session, survey.id, [client_id], field_name="client_id",
                language="en" if comment.isascii() else "zh-CN", expires_in_days=None,
                by=DEMO, now=moment, link_base=link_base,
                delivery=service.Delivery(email_enabled=False), allow_duplicate=True,
                rules=rules)[0]
            service.submit_response(session, issued.token,
                                    {"recommend": nps, "satisfied": csat, "comment": comment},
                                    now=moment + timedelta(minutes=30), rules=rules)
    return count
