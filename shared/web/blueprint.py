"""The base of every ``/api/v1`` blueprint: flask-smorest's ``Blueprint`` whose argument parser
makes each input schema once.

``@blp.arguments(ComplaintInSchema)`` hands webargs the schema class, and webargs makes a new
instance of it for every request it parses: marshmallow copies and binds every declared field,
0.1–0.2 ms a request for the suite's larger input schemas — more than loading the body itself.
Loading keeps nothing of a request on the schema (marshmallow 4 has no per-instance context; the
suite's schemas and fields keep no state), so one instance per class serves every request and
thread. A schema given as an instance, a mapping or a callable is used as webargs uses it.
"""
from __future__ import annotations

from typing import Any

import flask_smorest
import marshmallow as ma
from webargs.flaskparser import FlaskParser


class SchemaReusingParser(FlaskParser):
    """webargs' Flask parser, with one instance of each schema class it is given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._instances: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap, req) -> ma.Schema:
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._instances.get(argmap)
            if schema is None:
                # Two threads may both make one: setdefault keeps the first, both use it.
                schema = self._instances.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)

    def schema_for(self, schema: type[ma.Schema] | ma.Schema) -> ma.Schema:
        """The instance this parser loads with, for a schema class or instance."""
        return self._get_schema(schema, None) if isinstance(schema, type) else schema


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = SchemaReusingParser()
