"""What a console form's POST does, written once: :func:`handle_write`.

Every write of the console goes the same way (post → redirect → get):

1. in one transaction, load the aggregate and run the use case (the one the API calls);
2. it is not there → the 404 page;
3. the use case finds invalid fields → the page again, with the form as typed and its errors
   (422); nothing was written;
4. it refuses (a stale version, a conflict with the aggregate's state, an action its status
   does not allow) → a flash message saying why, and back to the page (303);
5. it is done → a flash message saying so, and back to the page (303).

    @console.post("/clients/<uuid:client_id>/archive")
    @staff_page("staff")
    def client_archive(client_id):
        def archive(session):
            load(session, client_id)
            service.archive_client(session, str(client_id), …)

        return handle_write(
            archive, back=url_for(".client_page", client_id=client_id),
            done=_("Client archived."),
            refused={StaleVersion: _("The client changed since you opened it; …"),
                     Conflict: _("An erased client cannot be archived.")})

Checks made before the use case (a form that cannot even be read) stay in the view, before the
call.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, TypeVar, Union

from flask import abort, current_app, make_response, redirect
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from shared.errors import NotFound, ValidationFailed
from shared.web.console.flashes import flash

T = TypeVar("T")

#: What the browser gets: a message (flashed, then back to the page), or a function of the
#: use case's result (or of the refusal) giving a message — or giving a response of its own
#: (a page) to answer instead. A string is a message: a page is a ``Response`` or a
#: ``(body, status)`` pair, never ``render_template``'s bare string.
Answer = Union[str, Callable[[Any], Union[str, ResponseReturnValue]]]


def handle_write(run: Callable[[Session], T], *,
                 back: str | Callable[[T], str],
                 done: Answer,
                 invalid: Callable[[Mapping[str, list[str]]], ResponseReturnValue] | None = None,
                 refused: Mapping[type[Exception], Answer] | None = None) -> ResponseReturnValue:
    """Run the write ``run(session)`` in one transaction and answer the form's POST.

    * ``back`` — the URL to go back to (303), or a function of the result giving it (a new
      aggregate's page); refusals go back to it too, so it is a URL where ``refused`` says
      something;
    * ``done`` — the message flashed (``"success"``) once the transaction is committed, or a
      function of the result giving it (or giving a page to show instead: a preview);
    * ``invalid`` — a function of the field errors (``ValidationFailed.errors``) giving the
      page with the form again; answered with status 422. Without it, invalid fields are the
      422 error page;
    * ``refused`` — exception class → what to say (flashed as an ``"error"``) or a function
      of the exception giving it (or giving a response of its own); the first class the
      exception is an instance of answers, so list subclasses first. Any other error is the
      console's error page (``shared.web.console.views``).

    A missing aggregate (``NotFound``) is the 404 page.
    """
    try:
        with current_app.extensions["clientloop"].database.transaction() as session:
            result = run(session)
    except NotFound:
        abort(404)
    except ValidationFailed as failed:
        if invalid is None:
            raise
        response = make_response(invalid(failed.errors))
        response.status_code = 422
        return response
    except tuple(refused or ()) as refusal:
        answer = next(answer for kind, answer in refused.items() if isinstance(refusal, kind))
        return _answer(answer, refusal, "error", back)
    return _answer(done, result, "success", back(result) if callable(back) else back)


def _answer(answer: Answer, value: Any, category: str, back: str | Callable) -> ResponseReturnValue:
    said = answer(value) if callable(answer) else answer
    if not isinstance(said, str):
        return said                                   # a page of its own
    if callable(back):
        raise TypeError("handle_write: a refusal needs `back` to be a URL")
    flash(said, category)
    return redirect(back, 303)
