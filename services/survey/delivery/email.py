"""The invitation email, in the invitation's language, and sending it over SMTP.

``CLIENTLOOP_SMTP_URL`` takes ``smtp://[user:password@]host[:port]`` (plain, upgraded with
STARTTLS when ``?starttls=true``) or ``smtps://…`` (TLS from the start). The message has a
plain-text and an HTML part; every value put into the HTML is escaped.
"""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from markupsafe import escape

SMTP_TIMEOUT_S = 15.0

TEXTS = {
    "zh-CN": {
        "subject": "请告诉我们您的感受：{title}",
        "greeting": "{name}，您好：",
        "greeting_anonymous": "您好：",
        "body": "我们诚挚地邀请您填写问卷“{title}”。只需几分钟，您的意见将帮助我们改进服务。",
        "action": "打开问卷",
        "expires": "此链接为您专属，请勿转发；有效期至 {expires}。",
        "footer": "此邮件由系统自动发送，请勿直接回复。",
    },
    "en": {
        "subject": "Tell us how we did: {title}",
        "greeting": "Dear {name},",
        "greeting_anonymous": "Hello,",
        "body": "We would be grateful if you could answer our survey \"{title}\". It takes a few "
                "minutes, and your answers help us serve you better.",
        "action": "Open the survey",
        "expires": "This link is personal to you; please do not forward it. It works until "
                   "{expires}.",
        "footer": "This message was sent automatically; replies are not read.",
    },
}


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    use_ssl: bool
    starttls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("CLIENTLOOP_SMTP_URL must look like smtp://host:port or smtps://host:port")
    query = parse_qs(parts.query)
    use_ssl = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname, port=parts.port or (465 if use_ssl else 25), use_ssl=use_ssl,
        starttls=(query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None)


def compose_invitation(*, sender: str, to_address: str, to_name: str | None, language: str,
                       title: str, url: str, expires: datetime, timezone: tzinfo) -> EmailMessage:
    texts = TEXTS.get(language, TEXTS["en"])
    local_expiry = expires.astimezone(timezone).strftime("%Y-%m-%d %H:%M")
    greeting = (texts["greeting"].format(name=to_name) if to_name
                else texts["greeting_anonymous"])
    body = texts["body"].format(title=title)
    expiry = texts["expires"].format(expires=f"{local_expiry} ({timezone})")
    message = EmailMessage()
    message["Subject"] = texts["subject"].format(title=title)
    message["From"] = sender
    message["To"] = to_address
    message["Date"] = format_datetime(datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain="clientloop.invalid")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n\n".join([greeting, body, f"{texts['action']}: {url}", expiry,
                                     texts["footer"]]) + "\n")
    message.add_alternative(
        f'<!doctype html><html lang="{escape(language)}"><body>'
        f"<p>{escape(greeting)}</p><p>{escape(body)}</p>"
        f'<p><a href="{escape(url)}">{escape(texts["action"])}</a></p>'
        f"<p>{escape(expiry)}</p><p><small>{escape(texts['footer'])}</small></p>"
        "</body></html>", subtype="html")
    message["Content-Language"] = language  # after the parts: Content-* headers move into them
    return message


def send(smtp_url: str, message: EmailMessage, timeout: float = SMTP_TIMEOUT_S) -> None:
    """Hand the message to the SMTP server; raises ``OSError``/``smtplib.SMTPException``."""
    target = parse_smtp_url(smtp_url)
    if target.use_ssl:
        client: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(target.host, target.port, timeout=timeout)
    with client:
        if target.starttls and not target.use_ssl:
            client.starttls(context=ssl.create_default_context())
        if target.username:
            client.login(target.username, target.password or "")
        client.send_message(message)
