"""``/api/v1/themes``: feedback themes across every survey."""
from __future__ import annotations

from flask.views import MethodView

from services.survey.api.common import ctx
from services.survey.api.schemas import ThemesArgs, ThemesSchema
from services.survey.api.surveys import theme_answer
from shared.web.blueprint import Blueprint

blp = Blueprint("themes", __name__, url_prefix="/api/v1/themes",
                description="Feedback themes of the comments of every survey.")


@blp.route("")
class Themes(MethodView):
    @blp.arguments(ThemesArgs, location="query")
    @blp.response(200, ThemesSchema)
    def get(self, args):
        """Feedback themes of the comments of every survey for ``from``–``to`` (and
        ``language``), as ``GET /api/v1/surveys/{id}/themes`` gives them for one survey; each
        example names its survey."""
        with ctx().database.transaction() as session:
            return theme_answer(session, args, None)
