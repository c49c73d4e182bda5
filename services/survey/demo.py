"""``clientloop up --demo``: two bilingual surveys, loaded only while the service has none.

* "Client satisfaction survey" — active, one question of every type;
* "After your complaint" — active and marked ``send_after_complaint_resolved``, so resolving a
  demo complaint invites its client.
"""
from __future__ import annotations

from sqlalchemy import func, select

from services.survey import service
from services.survey.adapters.orm import SurveyRecord

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
