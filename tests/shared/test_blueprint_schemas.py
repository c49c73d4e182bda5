"""The API blueprints load each input schema with one instance of it (``shared.web.blueprint``),
across requests and threads, and every service's ``/api/v1`` blueprints are of that kind."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import flask_smorest
import marshmallow as ma
import pytest
from flask import Flask
from marshmallow import fields, validate

from shared.config import Settings
from shared.runtime import available_services, service_module
from shared.web.blueprint import Blueprint, SchemaReusingParser
from tests.conftest import TEST_SECRET

made = []


class OrderIn(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=20))
    quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=1000))
    note = fields.String(load_default=None)

    def __init__(self, *args, **kwargs):
        made.append(self)
        super().__init__(*args, **kwargs)


class OrderArgs(ma.Schema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))


def _app() -> Flask:
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    api = flask_smorest.Api(app)
    blp = Blueprint("orders", __name__, url_prefix="/orders")

    @blp.post("/")
    @blp.arguments(OrderIn)
    @blp.arguments(OrderArgs, location="query")
    def create(order, args):
        return {**order, "limit": args["limit"]}

    api.register_blueprint(blp)
    return app


def test_a_schema_class_is_made_once_for_every_request():
    http = _app().test_client()
    made.clear()  # those the OpenAPI document made
    for number in range(1, 6):
        answer = http.post(f"/orders/?limit={number}", json={"name": f"n{number}", "quantity": number})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert answer.get_json() == {"name": f"n{number}", "quantity": number, "note": None,
                                     "limit": number}
    # the stock parser makes one for each of the five requests
    assert len(made) == 1


def test_one_instance_loads_simultaneous_requests_each_with_its_own_values_and_errors():
    app = _app()
    assert app.test_client().post("/orders/", json={"name": "first", "quantity": 1}).status_code == 200
    made.clear()
    start = threading.Barrier(8)

    def send(number: int):
        http = app.test_client()
        start.wait(timeout=10)
        results = []
        for round_ in range(40):
            bad = (number + round_) % 3 == 0
            body = {"name": f"t{number}-{round_}", "quantity": 0 if bad else number * 10 + 1}
            answer = http.post(f"/orders/?limit={number + 1}", json=body)
            results.append((bad, body, answer.status_code, answer.get_json()))
        return results

    with ThreadPoolExecutor(8) as pool:
        everything = [item for results in pool.map(send, range(8)) for item in results]
    assert made == []
    for bad, body, status, answer in everything:
        if bad:
            assert status == 422
            errors = answer["errors"]["json"]
            assert set(errors) == {"quantity"}, answer
        else:
            assert status == 200
            assert answer["name"] == body["name"] and answer["quantity"] == body["quantity"]


def test_a_schema_given_as_an_instance_is_used_as_it_is():
    parser = SchemaReusingParser()
    instance = OrderArgs()
    assert parser.schema_for(instance) is instance
    assert parser.schema_for(OrderArgs) is parser.schema_for(OrderArgs)
    assert parser.schema_for(OrderArgs) is not instance


@pytest.mark.parametrize("service", available_services())
def test_every_api_blueprint_of_every_service_reuses_its_schemas(service, tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path / "data", secret_key=TEST_SECRET)
    from shared.migrations import upgrade
    upgrade(service, settings.database_url(service))
    module = service_module(service)
    ctx = module.build_context(settings)
    try:
        app = module.create_app(context=ctx)
        api_blueprints = [blueprint for blueprint in app.blueprints.values()
                          if isinstance(blueprint, flask_smorest.Blueprint)]
        assert api_blueprints
        stock = [blueprint.name for blueprint in api_blueprints
                 if not isinstance(blueprint.ARGUMENTS_PARSER, SchemaReusingParser)]
        assert stock == []
    finally:
        ctx.database.dispose()
