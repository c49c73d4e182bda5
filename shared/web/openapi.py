"""The OpenAPI documents say what the code enforces, so generated clients and fuzzers send valid
requests.

flask-smorest derives a property from each marshmallow field and its ``validate=`` validators
(``Length`` → ``minLength``/``maxLength``, ``Range`` → ``minimum``/``maximum``, ``OneOf`` →
``enum``, ``Regexp`` → ``pattern``). :class:`DocumentedRules` (an apispec plugin every service's
``Api`` gets) adds what that cannot see:

* a custom field documents itself through ``openapi_properties()`` (``shared.web.fields``:
  timestamps, decimal strings, the installation's currency);
* a schema whose rules no field can express (an action's own fields, a survey's texts per
  language) gives its whole component through ``openapi_component(derived)``;
* a nullable nested object (``anyOf: [{"type": "object", "nullable": true}, {"$ref": …}]``
  from apispec, which lets any object through) is narrowed to ``null`` or the object.
"""
from __future__ import annotations

from apispec import BasePlugin


class DocumentedRules(BasePlugin):
    """Adds custom fields' and schemas' own OpenAPI details; ``currency`` is the installation's."""

    def __init__(self, currency: str | None = None) -> None:
        super().__init__()
        self.currency = currency

    def init_spec(self, spec) -> None:
        """After the marshmallow plugin (plugins start in order): hook its field converter."""
        super().init_spec(spec)
        from apispec.ext.marshmallow import MarshmallowPlugin
        marshmallow = next(p for p in spec.plugins if isinstance(p, MarshmallowPlugin))
        plugin = self

        def clientloop_details(self, field, ret, **_kwargs):
            details = getattr(field, "openapi_properties", None)
            extra = dict(details(currency=plugin.currency)) if callable(details) else {}
            for option in ret.get("anyOf", ()):  # a nullable $ref: null, or the object
                if option == {"type": "object", "nullable": True}:
                    option["enum"] = [None]
            return extra

        marshmallow.converter.add_attribute_function(clientloop_details)

    def schema_helper(self, name, definition, **kwargs):
        schema = kwargs.get("schema")
        schema_class = schema if isinstance(schema, type) else type(schema)
        component = getattr(schema_class, "openapi_component", None)
        if callable(component):
            replaced = component(dict(definition))
            definition.clear()
            definition.update(replaced)
        return None

