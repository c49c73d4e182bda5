"""The webhooks page of every service's console (admins only): ``/<service>/console/webhooks``.

Written once here and mounted on each service's console blueprint by
:func:`shared.web.console.make_console_blueprint` (:func:`add_webhook_pages`), like sign-in.
It lists the service's webhook endpoints, adds one (its signing secret is shown on the page
that answers the form, once, and never again), enables, disables and deletes one, and shows an
endpoint's deliveries with a Retry button per delivery and a "Send test" button. Every action
is a form POST answered by a redirect (no JavaScript); the same rules as the API apply
(``shared.web.webhooks``: allowed URLs, event type patterns).
"""
from __future__ import annotations

from uuid import UUID

from flask import Blueprint, abort, current_app, render_template, request, url_for

from shared.errors import ValidationFailed
from shared.web.console.i18n import _, register_messages
from shared.web.console.paging import Page, page_number
from shared.web.console.views import staff_page
from shared.web.console.writes import handle_write

TEMPLATE = "console/webhooks.html"
ENDPOINT_TEMPLATE = "console/webhook.html"
CREATED_TEMPLATE = "console/webhook_created.html"
PER_PAGE = 25

MESSAGES = {
    "zh-CN": {
        "Webhooks": "Webhook",
        "Webhook endpoints": "Webhook 端点",
        "Webhook endpoints of this service": "本服务的 Webhook 端点",
        "This service POSTs its events to these URLs, signed as Standard Webhooks. Nothing is sent when an endpoint is added; use Send test to try it.":
            "本服务把事件以 Standard Webhooks 签名后 POST 到这些地址。添加端点时不会发送任何内容；可用“发送测试”试一试。",
        "No webhook endpoint yet.": "还没有 Webhook 端点。",
        "Add an endpoint": "添加端点",
        "URL": "地址",
        "An https URL of a public address.": "公网地址的 https URL。",
        "Event types": "事件类型",
        "Separated by commas: * for all, an event type, or a prefix such as %(example)s.":
            "用逗号分隔：* 表示全部，也可以是一个事件类型，或如 %(example)s 这样的前缀。",
        "Description": "说明",
        "Add": "添加",
        "State": "状态",
        "Enabled": "已启用",
        "Disabled": "已停用",
        "Disabled: %(reason)s": "已停用：%(reason)s",
        "Created": "创建时间",
        "Actions": "操作",
        "Deliveries": "投递记录",
        "Enable": "启用",
        "Disable": "停用",
        "Delete": "删除",
        "Send test": "发送测试",
        "Retry": "重试",
        "Back to the webhook endpoints": "返回 Webhook 端点",
        "Endpoint added": "端点已添加",
        "The endpoint %(url)s was added.": "端点 %(url)s 已添加。",
        "Its signing secret, shown only now: copy it to the receiver, which verifies each delivery with it.":
            "其签名密钥仅此一次显示：请复制到接收方，用于校验每次投递。",
        "Signing secret": "签名密钥",
        "Deliveries of this endpoint, newest first": "此端点的投递记录，最新的在前",
        "No delivery yet.": "还没有投递。",
        "Event": "事件",
        "Status": "状态",
        "Attempts": "尝试次数",
        "Last answer": "最近响应",
        "Last attempt": "最近尝试",
        "Next attempt": "下次尝试",
        "pending": "待投递",
        "delivered": "已投递",
        "failed": "失败",
        "no answer": "无响应",
        "Endpoint enabled: deliveries resume.": "端点已启用：恢复投递。",
        "Endpoint disabled: nothing is sent until it is enabled again.": "端点已停用：再次启用前不会发送任何内容。",
        "Endpoint deleted.": "端点已删除。",
        "A test event is queued; it is sent within seconds.": "测试事件已排队，几秒内发送。",
        "The delivery is queued again.": "已重新排队投递。",
        "Give at least one event type.": "请至少填写一个事件类型。",
        "Enter a URL.": "请填写地址。",
        "At most %(n)s characters.": "最多 %(n)s 个字符。",
    },
}
register_messages(MESSAGES)


def ctx():
    return current_app.extensions["clientloop"]


def _store():
    from shared.webhooks import store
    return store


def add_webhook_pages(bp: Blueprint) -> None:
    """The webhooks pages on a service's ``console`` blueprint."""
    bp.add_url_rule("/webhooks", "webhooks", webhooks_page, methods=["GET"])
    bp.add_url_rule("/webhooks", "webhook_add", webhook_add, methods=["POST"])
    bp.add_url_rule("/webhooks/<uuid:webhook_id>", "webhook_page", webhook_page, methods=["GET"])
    bp.add_url_rule("/webhooks/<uuid:webhook_id>/enable", "webhook_enable", webhook_enable,
                    methods=["POST"])
    bp.add_url_rule("/webhooks/<uuid:webhook_id>/disable", "webhook_disable", webhook_disable,
                    methods=["POST"])
    bp.add_url_rule("/webhooks/<uuid:webhook_id>/delete", "webhook_delete", webhook_delete,
                    methods=["POST"])
    bp.add_url_rule("/webhooks/<uuid:webhook_id>/test", "webhook_test", webhook_test,
                    methods=["POST"])
    bp.add_url_rule("/webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/retry",
                    "webhook_retry", webhook_retry, methods=["POST"])


def _example_pattern() -> str:
    from shared.web.webhooks import service_event_types
    known = service_event_types(ctx().service)
    return f"{known[0].split('.')[0]}.*" if known else "*"


def _list_page(form: dict | None = None, errors: dict | None = None):
    with ctx().database.transaction() as session:
        endpoints = _store().list_endpoints(session, ctx().tables)
    return render_template(TEMPLATE, endpoints=endpoints, form=form or {}, errors=errors or {},
                           example=_example_pattern())


@staff_page("admin")
def webhooks_page():
    return _list_page()


def _patterns(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


@staff_page("admin")
def webhook_add():
    from shared.web.webhooks import MAX_URL_LENGTH, rule_errors
    form = {name: (request.form.get(name) or "").strip()
            for name in ("url", "event_types", "description")}
    fields = {"url": form["url"], "event_types": _patterns(form["event_types"]),
              "description": form["description"] or None}
    errors: dict[str, list[str]] = {}
    if not fields["url"] or len(fields["url"]) > MAX_URL_LENGTH:
        errors["url"] = [_("Enter a URL.") if not fields["url"] else
                         _("At most %(n)s characters.", n=MAX_URL_LENGTH)]
    if not fields["event_types"]:
        errors["event_types"] = [_("Give at least one event type.")]
    if fields["description"] and len(fields["description"]) > 500:
        errors["description"] = [_("At most %(n)s characters.", n=500)]

    def create(session):
        found = {**errors, **{key: value for key, value in rule_errors(fields).items()
                              if key not in errors}}
        if found:
            raise ValidationFailed(found)
        return _store().create_endpoint(session, ctx().tables, url=fields["url"],
                                        event_types=fields["event_types"],
                                        description=fields["description"], now=ctx().clock())

    def created(endpoint):  # the secret is shown on this answer only: never in a redirect
        return render_template(CREATED_TEMPLATE, endpoint=endpoint), 200

    return handle_write(create, back=url_for(".webhooks"), done=created,
                        invalid=lambda found: _list_page(form, found))


def _endpoint_or_404(session, webhook_id: UUID) -> dict:
    endpoint = _store().get_endpoint(session, ctx().tables, str(webhook_id))
    if endpoint is None:
        abort(404)
    return endpoint


@staff_page("admin")
def webhook_page(webhook_id: UUID):
    page = page_number()
    with ctx().database.transaction() as session:
        endpoint = _endpoint_or_404(session, webhook_id)
        items, total = _store().list_deliveries(session, ctx().tables, str(webhook_id),
                                                limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    return render_template(ENDPOINT_TEMPLATE, endpoint=endpoint,
                           deliveries=Page(items, page, PER_PAGE, total))


def _set_enabled(webhook_id: UUID, enabled: bool, done: str):
    def change(session):
        _endpoint_or_404(session, webhook_id)
        return _store().update_endpoint(session, ctx().tables, str(webhook_id),
                                        {"enabled": enabled}, ctx().clock())

    return handle_write(change, back=url_for(".webhook_page", webhook_id=webhook_id), done=done)


@staff_page("admin")
def webhook_enable(webhook_id: UUID):
    return _set_enabled(webhook_id, True, _("Endpoint enabled: deliveries resume."))


@staff_page("admin")
def webhook_disable(webhook_id: UUID):
    return _set_enabled(webhook_id, False,
                        _("Endpoint disabled: nothing is sent until it is enabled again."))


@staff_page("admin")
def webhook_delete(webhook_id: UUID):
    def delete(session):
        if not _store().delete_endpoint(session, ctx().tables, str(webhook_id)):
            abort(404)

    return handle_write(delete, back=url_for(".webhooks"), done=_("Endpoint deleted."))


@staff_page("admin")
def webhook_test(webhook_id: UUID):
    def queue(session):
        _endpoint_or_404(session, webhook_id)
        return _store().enqueue_test(session, ctx().tables, str(webhook_id),
                                     service=ctx().service, now=ctx().clock())

    return handle_write(queue, back=url_for(".webhook_page", webhook_id=webhook_id),
                        done=_("A test event is queued; it is sent within seconds."))


@staff_page("admin")
def webhook_retry(webhook_id: UUID, delivery_id: UUID):
    def retry(session):
        delivery = _store().retry_delivery(session, ctx().tables, str(webhook_id),
                                           str(delivery_id), ctx().clock())
        if delivery is None:
            abort(404)
        return delivery

    return handle_write(retry, back=url_for(".webhook_page", webhook_id=webhook_id),
                        done=_("The delivery is queued again."))
