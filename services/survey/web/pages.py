"""Rendering the survey pages: headers every page gets, the pages shown instead of a form, the
per-link form token, and HTML answers for errors under ``/s/``.

Every page is rendered by Jinja with autoescaping, so a ``<script>`` in a title, question,
option or answer (or in the organisation's name or contact) is shown as text; the
Content-Security-Policy allows no script at all, as a second wall. Every page names the
organisation that asks (``organisation.py``). The link's token is in the page's URL, so pages
send ``Referrer-Policy: no-referrer`` and are never cached.
"""
from __future__ import annotations

import logging
import time

from flask import Flask, Response, current_app, render_template, request
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from services.survey.domain.invitations import hash_token
from services.survey.web.organisation import content_security_policy, organisation
from services.survey.web.texts import LANGUAGES, texts_for
from shared import errors
from shared.outages import RETRY_AFTER_S, dependency_unavailable
from shared.web.problems import (domain_error_problem, http_exception_problem, log_unavailable,
                                 unexpected_error_problem)

log = logging.getLogger("clientloop.survey.web")

PAGE_PREFIX = "/s/"
FORM_TOKEN_FIELD = "_form"
FORM_TOKEN_MAX_AGE_S = 24 * 3600
#: Headers of every page; ``Content-Security-Policy`` is added per installation (the logo).
SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


def is_page_request() -> bool:
    return request.path.startswith(PAGE_PREFIX)


def visitor_language() -> str:
    """For pages that know no invitation: the browser's choice, else the installation's."""
    settings = current_app.extensions["clientloop"].settings
    return request.accept_languages.best_match(LANGUAGES, default=settings.default_language)


def page(template: str, status: int = 200, *, language: str, **context) -> Response:
    """A page in ``language``, naming the organisation that asks (header and contact line)."""
    settings = current_app.extensions["clientloop"].settings
    org = organisation(settings, language)
    body = render_template(template, lang=language, t=texts_for(language), org=org, **context)
    response = current_app.response_class(body, status=status, mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    response.headers["Content-Security-Policy"] = content_security_policy(org.logo_url)
    return response


def org_name(language: str) -> str:
    return organisation(current_app.extensions["clientloop"].settings, language).name


def message_page(status: int, language: str, title_key: str, message: str,
                 help_text: str | None = None, headers: dict[str, str] | None = None) -> Response:
    response = page("survey/message.html", status, language=language,
                    title=texts_for(language)[title_key], message=message, help_text=help_text)
    response.headers.update(headers or {})
    return response


def not_found_page() -> Response:
    language = visitor_language()
    return message_page(404, language, "not_found_title", texts_for(language)["not_found"])


def unavailable_page(error: Exception) -> Response:
    """The database is unreachable: a 503 page asking to try again shortly."""
    log_unavailable(error)
    language = visitor_language()
    return message_page(503, language, "unavailable_title", texts_for(language)["unavailable"],
                        headers={"Retry-After": str(RETRY_AFTER_S)})


def gone_page(reason: str, language: str) -> Response:
    t = texts_for(language)
    title = "gone_answered_title" if reason == "answered" else "gone_title"
    return message_page(410, language, title, t[f"gone_{reason}"],
                        t["what_next"].format(org=org_name(language)) if reason == "answered"
                        else t["gone_help"].format(org=org_name(language)))


# -- the per-link form token (CSRF) ----------------------------------------------------------
def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.extensions["clientloop"].settings.secret_key,
                                  salt="clientloop.survey.form")


def form_token(link_token: str) -> str:
    return _serializer().dumps(hash_token(link_token)[:32])


def form_token_valid(link_token: str, submitted: str | None) -> bool:
    if not submitted:
        return False
    try:
        bound = _serializer().loads(submitted, max_age=FORM_TOKEN_MAX_AGE_S)
    except BadData:
        return False
    return bound == hash_token(link_token)[:32]


# -- errors under /s/ are pages; elsewhere problem details ----------------------------------
def register_page_errors(app: Flask, limiter) -> None:
    from flask_limiter import RateLimitExceeded

    def retry_after() -> int:
        limit = limiter.current_limit
        if limit is None:
            return 60
        return max(1, int(limit.reset_at - time.time()) + 1)

    def rate_limited(error: RateLimitExceeded):
        seconds = str(retry_after())
        if is_page_request():
            language = visitor_language()
            return message_page(429, language, "too_many_title",
                                texts_for(language)["too_many"].format(seconds=seconds),
                                headers={"Retry-After": seconds})
        response = http_exception_problem(error)
        response.headers["Retry-After"] = seconds
        return response

    def http_error(error: HTTPException):
        if not is_page_request():
            return http_exception_problem(error)
        if error.code == 404:
            return not_found_page()
        original = getattr(error, "original_exception", None)
        if error.code == 500 and original is not None and dependency_unavailable(original):
            return unavailable_page(original)
        language = visitor_language()
        return message_page(error.code or 500, language, "error_title",
                            texts_for(language)["error_body"])

    def domain_error(error: errors.DomainError):
        if not is_page_request():
            return domain_error_problem(error)
        if isinstance(error, errors.NotFound):
            return not_found_page()
        language = visitor_language()
        return message_page(400, language, "error_title", texts_for(language)["error_body"])

    def unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        if not is_page_request():
            return unexpected_error_problem(error)
        if dependency_unavailable(error):
            return unavailable_page(error)
        log.exception("unexpected error on a survey page", exc_info=error)
        language = visitor_language()
        return message_page(500, language, "error_title", texts_for(language)["error_body"])

    app.register_error_handler(RateLimitExceeded, rate_limited)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(errors.DomainError, domain_error)
    app.register_error_handler(Exception, unexpected)
