"""``/api/v1/surveys``: define, publish and close surveys; read their results and responses."""
from __future__ import annotations

from flask import current_app, stream_with_context
from flask.views import MethodView

from services.survey import results, service, themes
from services.survey.adapters import queries
from services.survey.adapters.orm import SurveyRecord
from services.survey.api.common import actor, ctx, rules, survey_view
from services.survey.api.schemas import (ResponseSchema, ResponsesArgs, ResultsArgs,
                                         ResultsSchema, SurveyInSchema, SurveyListArgs,
                                         SurveyPatchSchema, SurveySchema, ThemesArgs,
                                         ThemesSchema)
from shared.web.blueprint import Blueprint
from shared.web.idempotency import idempotent
from shared.web.pagination import page_schema, paginate
from shared.web.versioning import expected_version, with_etag

blp = Blueprint("surveys", __name__, url_prefix="/api/v1/surveys",
                description="Surveys: definitions, their life, results and responses.")


_SURVEY_SCHEMA = SurveySchema()


def respond(survey: SurveyRecord, status: int = 200):
    response = current_app.make_response((_SURVEY_SCHEMA.dump(survey_view(survey)), status))
    if status == 201:
        from flask import request
        response.headers["Location"] = f"{request.script_root}/api/v1/surveys/{survey.id}"
    return with_etag(response, survey.version)


@blp.route("")
class Surveys(MethodView):
    @blp.arguments(SurveyListArgs, location="query")
    @blp.response(200, page_schema(SurveySchema))
    def get(self, args):
        """List surveys, newest first (optionally by ``status``)."""
        statement = queries.surveys(args.get("status"))
        with ctx().database.transaction() as session:
            page = paginate(session, statement, args["page"], args["per_page"])
            page["items"] = [survey_view(survey) for survey in page["items"]]
        return page

    @idempotent
    @blp.arguments(SurveyInSchema)
    @blp.response(201, SurveySchema)
    def post(self, fields):
        """Create a draft survey (validated as a whole; errors by dotted path)."""
        with ctx().database.transaction() as session:
            survey = service.create_survey(session, fields, by=actor(), now=ctx().clock(),
                                           rules=rules())
        return respond(survey, 201)


@blp.route("/<uuid:survey_id>")
class Survey(MethodView):
    @blp.response(200, SurveySchema)
    def get(self, survey_id):
        """Read one survey."""
        with ctx().database.transaction() as session:
            survey = service.get_survey(session, str(survey_id))
        return respond(survey)

    @blp.arguments(SurveyPatchSchema)
    @blp.response(200, SurveySchema)
    def patch(self, changes, survey_id):
        """Change a draft (optional ``If-Match``); an active or closed survey is a 409."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            survey = service.update_survey(session, str(survey_id), changes,
                                           expected_version=expected, now=ctx().clock(),
                                           rules=rules())
        return respond(survey)


@blp.route("/<uuid:survey_id>/publish")
class Publish(MethodView):
    @blp.response(200, SurveySchema)
    def post(self, survey_id):
        """Make a draft answerable; publishes ``survey.published``."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            survey = service.publish_survey(session, str(survey_id), expected_version=expected,
                                            now=ctx().clock(), rules=rules())
        return respond(survey)


@blp.route("/<uuid:survey_id>/close")
class Close(MethodView):
    @blp.response(200, SurveySchema)
    def post(self, survey_id):
        """Stop an active survey taking answers; publishes ``survey.closed``."""
        expected = expected_version()
        with ctx().database.transaction() as session:
            survey = service.close_survey(session, str(survey_id), expected_version=expected,
                                          now=ctx().clock(), rules=rules())
        return respond(survey)


@blp.route("/<uuid:survey_id>/results")
class Results(MethodView):
    @blp.arguments(ResultsArgs, location="query")
    @blp.response(200, ResultsSchema)
    def get(self, args, survey_id):
        """Response count, invitations, response rate, NPS, CSAT, CES and mean score, overall
        and per ``group_by`` (``month``, ``kind`` or ``tier``), for ``from``–``to``."""
        with ctx().database.transaction() as session:
            survey = service.get_survey(session, str(survey_id))
            return results.results(session, survey, start=args.get("start"),
                                   end=args.get("end"), group_by=args.get("group_by"),
                                   timezone=ctx().settings.timezone, rules=rules())


@blp.route("/<uuid:survey_id>/themes")
class Themes(MethodView):
    @blp.arguments(ThemesArgs, location="query")
    @blp.response(200, ThemesSchema)
    def get(self, args, survey_id):
        """Feedback themes of the survey's comments for ``from``–``to`` (and ``language``):
        each theme's mentions, share, mean score, NPS and newest examples, by mentions (a page
        of them), and the detractor drivers (at least 5 mentions, lowest NPS first)."""
        with ctx().database.transaction() as session:
            survey = service.get_survey(session, str(survey_id))
            return theme_answer(session, args, survey.id)


def theme_answer(session, args, survey_id):
    return themes.themes(session, survey_id=survey_id, start=args.get("start"),
                         end=args.get("end"), language=args.get("language"),
                         timezone=ctx().settings.timezone, config=ctx().extras["themes"],
                         rules=rules().feedback, page=args["page"], per_page=args["per_page"])


@blp.route("/<uuid:survey_id>/responses")
class Responses(MethodView):
    @blp.arguments(ResponsesArgs, location="query")
    @blp.response(200, page_schema(ResponseSchema))
    def get(self, args, survey_id):
        """The survey's responses, oldest first; ``?format=csv`` exports them all as CSV
        (UTF-8 with a byte-order mark, one column per question)."""
        with ctx().database.transaction() as session:
            survey = service.get_survey(session, str(survey_id))
            if args["format"] == "csv":
                # Streamed, a batch of responses at a time (``results.csv_stream``).
                body = results.csv_stream(ctx().database, service.definition_of(survey),
                                          survey.id, args.get("start"), args.get("end"),
                                          ctx().settings.timezone)
                response = current_app.response_class(stream_with_context(body),
                                                      mimetype="text/csv")
                response.headers["Content-Type"] = "text/csv; charset=utf-8"
                response.headers["Content-Disposition"] = (
                    f'attachment; filename="survey-{survey.id}-responses.csv"')
                return response
            statement = results.responses_statement(survey.id, args.get("start"),
                                                    args.get("end"), ctx().settings.timezone)
            page = paginate(session, statement, args["page"], args["per_page"])
            page["items"] = [results.response_view(row) for row in page["items"]]
        return page
