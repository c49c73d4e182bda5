"""Invitations in the survey console: invite clients, list invitations, revoke and resend.

* ``/surveys/<id>/invite`` — the service's own client directory (learnt from the registry's
  events), by name, the first few shown and a search for the others; tick one or many
  clients, choose a language and an expiry, invite. One form does it all without JavaScript:
  "Search" posts it and shows it again with the ticked clients kept; "Invite" creates the
  invitations through ``service.invite_clients``, all or none. A client who already holds an
  open invitation makes it a 409 page naming them, with "Invite anyway" (``allow_duplicate``).
* The page answering an invite (or a resend) shows each new link once, in a read-only field
  ready to copy; it is never cached, and the link cannot be shown again (only its hash is
  kept).
* ``/surveys/<id>/invitations`` — the invitations with their state, paged in SQL; revoke and
  resend (a new link) for open ones.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from flask import Blueprint, abort, render_template, request

from services.survey import service
from services.survey.adapters import queries
from services.survey.adapters.orm import InvitationRecord
from services.survey.api.common import delivery, invitation_views, link_base
from services.survey.domain.invitations import LinkState, OpenInvitationExists
from services.survey.domain.lifecycle import SurveyStatus
from services.survey.web import builder, console_text
from services.survey.web.console import (actor, ctx, known_id, load_survey, rules,
                                         survey_summary)
from shared.errors import Conflict, StaleVersion, ValidationFailed
from shared.web.console import _, flash, redirect_back, staff_page
from shared.web.console.paging import page_number, paginate

#: Clients listed for one search (the directory is paged in SQL; a search narrows it).
SEARCH_LIMIT = 25


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/surveys/<survey_id>/invite", "invite", invite_page, methods=["GET"])
    bp.add_url_rule("/surveys/<survey_id>/invite", "send_invitations", send_invitations,
                    methods=["POST"])
    bp.add_url_rule("/surveys/<survey_id>/invitations", "invitations", invitation_list,
                    methods=["GET"])
    bp.add_url_rule("/invitations/<invitation_id>/revoke", "revoke", revoke,
                    methods=["POST"])
    bp.add_url_rule("/invitations/<invitation_id>/resend", "resend", resend,
                    methods=["POST"])


# -- inviting -------------------------------------------------------------------------------
def _active_or_redirect(survey):
    if survey.status != SurveyStatus.ACTIVE:
        flash(_("Only an active survey can be sent to clients."), "error")
        return redirect_back(".survey", survey_id=survey.id)
    return None


@staff_page("staff")
def invite_page(survey_id):
    survey = load_survey(survey_id)
    refused = _active_or_redirect(survey)
    if refused is not None:
        return refused
    return render_invite(survey, search=request.args.get("q", "")[:200])


@staff_page("staff")
def send_invitations(survey_id):
    survey = load_survey(survey_id)
    refused = _active_or_redirect(survey)
    if refused is not None:
        return refused
    form = request.form
    search = form.get("q", "")[:200]
    chosen = list(dict.fromkeys(value for value in form.getlist("client_ids") if value))
    language = form.get("language") or None
    expires = form.get("expires_in_days", "").strip()
    if form.get("op") == "search":
        return render_invite(survey, search=search, chosen=chosen, language=language,
                             expires=expires)
    if not chosen:
        return render_invite(survey, search=search, chosen=chosen,
                             language=language, expires=expires,
                             errors={"client_ids": [_("Tick at least one client to invite.")]},
                             status=422)
    if len(chosen) > rules().max_clients_per_request:
        return render_invite(survey, search=search, chosen=chosen,
                             language=language, expires=expires, status=422, errors={
                                 "client_ids": [_("Invite at most %(n)s clients at once.",
                                                  n=rules().max_clients_per_request)]})
    try:
        with ctx().database.transaction() as session:
            issued = service.invite_clients(
                session, survey.id, chosen, field_name="client_ids", language=language,
                expires_in_days=_days(expires), by=actor(), now=ctx().clock(),
                link_base=link_base(), delivery=delivery(),
                allow_duplicate=form.get("allow_duplicate") == "1", rules=rules())
            created = invitation_views(session, [item.invitation for item in issued],
                                       urls={item.invitation.id: item.url for item in issued})
    except OpenInvitationExists as duplicate:
        return render_invite(survey, search=search, chosen=chosen,
                             language=language, expires=expires, duplicates=duplicate,
                             status=409)
    except ValidationFailed as invalid:
        return render_invite(survey, search=search, chosen=chosen,
                             language=language, expires=expires, errors=invalid.errors,
                             status=422)
    except Conflict as conflict:
        flash(console_text.conflict_message(conflict), "error")
        return redirect_back(".survey", survey_id=survey.id)
    return render_links(survey, created)


def _days(text: str) -> Any:
    """Days as typed: blank is the default, digits a number, anything else for the domain to
    refuse."""
    if not text:
        return None
    return int(text) if text.isdigit() and len(text) <= 6 else text


def render_invite(survey, *, search: str = "", chosen: Sequence[str] = (),
                  language: str | None = None, expires: str = "",
                  errors: Mapping[str, Sequence[str]] | None = None,
                  duplicates: OpenInvitationExists | None = None, status: int = 200):
    with ctx().database.transaction() as session:
        names = queries.client_names(session, chosen)
        matches = paginate(session, queries.invitable_clients(search), page=1,
                           per_page=SEARCH_LIMIT)
    chosen_rows = [{"id": client_id, "name": names.get(client_id)} for client_id in chosen]
    shown = _invite_errors(errors or {}, chosen, names)
    held = []
    if duplicates is not None:
        held = [{"client": names.get(item.client_id) or item.client_id,
                 "created_at": item.created_at, "expires_at": item.expires_at}
                for item in duplicates.open_invitations]
    body = render_template(
        "console/survey/invite.html", survey=survey_summary(survey), tab="invitations",
        search=search, matches=matches, chosen=chosen_rows, chosen_ids=set(chosen),
        language=language, expires=expires, errors=shown, summary=shown, held=held,
        default_expiry=rules().invitations.default_expiry_days,
        language_options=[(language, console_text.language_name(language))
                          for language in survey.definition.get("languages") or []])
    return body, status


def _invite_errors(errors: Mapping[str, Sequence[str]], chosen: Sequence[str],
                   names: Mapping[str, str | None]) -> dict[str, list[str]]:
    """The domain's errors by form field, clients named: ``client_ids.3`` is the fourth
    ticked client."""
    shown: dict[str, list[str]] = {}
    for path, messages in errors.items():
        field, _dot, index = path.partition(".")
        if field not in ("client_ids", "language", "expires_in_days"):
            field = "client_ids"
        for message in messages:
            if field == "client_ids" and index.isdigit() and int(index) < len(chosen):
                client_id = chosen[int(index)]
                text = _client_problem(message, names.get(client_id) or client_id)
            else:
                text = console_text.domain_message(message)
            shown.setdefault(field, []).append(text)
    return shown


def _client_problem(message: str, name: str) -> str:
    if message.startswith("Unknown client"):
        return _("%(name)s is not known to the survey service yet; try again in a moment.",
                 name=name)
    if "cannot be invited" in message:
        return _("%(name)s is archived or erased and cannot be invited.", name=name)
    return f"{name}: {console_text.domain_message(message)}"


def render_links(survey, created: list[dict[str, Any]]):
    """The new links, shown this once."""
    body = render_template("console/survey/links.html", survey=survey_summary(survey),
                           tab="invitations", created=created)
    return body, 200, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


# -- the list, revoke, resend ---------------------------------------------------------------
@staff_page("analyst")
def invitation_list(survey_id):
    survey = load_survey(survey_id)
    state = request.args.get("state") or None
    if state not in {value.value for value in LinkState}:
        state = None
    with ctx().database.transaction() as session:
        page = paginate(session, queries.invitations(survey.id, now=ctx().clock(), state=state),
                        page=page_number(), args={"state": state} if state else {})
        rows = invitation_views(session, list(page.items))
    return render_template("console/survey/invitations.html", survey=survey_summary(survey),
                           tab="invitations", rows=rows, page=page, state=state,
                           states=console_text.link_states())


def _invitation_survey(invitation_id: str) -> str:
    with ctx().database.transaction() as session:
        invitation = session.get(InvitationRecord, known_id(invitation_id))
        if invitation is None:
            abort(404)
        return invitation.survey_id


@staff_page("staff")
def revoke(invitation_id):
    survey_id = _invitation_survey(invitation_id)
    try:
        with ctx().database.transaction() as session:
            service.revoke_invitation(session, known_id(invitation_id),
                                      expected_version=_version(), now=ctx().clock())
    except StaleVersion:
        flash(_("The invitation changed meanwhile; check it and try again."), "error")
    except Conflict as refused:
        flash(console_text.conflict_message(refused), "error")
    else:
        flash(_("Invitation revoked: its links no longer work."), "success")
    return redirect_back(".invitations", survey_id=survey_id)


@staff_page("staff")
def resend(invitation_id):
    survey_id = _invitation_survey(invitation_id)
    try:
        with ctx().database.transaction() as session:
            issued = service.resend_invitation(session, known_id(invitation_id),
                                               expected_version=_version(), now=ctx().clock())
            created = invitation_views(session, [issued.invitation],
                                       urls={issued.invitation.id: issued.url})
    except StaleVersion:
        flash(_("The invitation changed meanwhile; check it and try again."), "error")
        return redirect_back(".invitations", survey_id=survey_id)
    except Conflict as refused:
        flash(console_text.conflict_message(refused), "error")
        return redirect_back(".invitations", survey_id=survey_id)
    return render_links(load_survey(survey_id), created)


def _version() -> int | None:
    return builder.version_of(request.form.get("version", ""))
