"""The OpenAPI schema's error responses, documented once for every operation.

drf-spectacular documents what each view returns on success. The errors come from the
shared machinery instead (authentication, the role permission, the tenant binding, the
exception handler, throttles), so they are added here from what the view is, and the
schema lists every status code a client can get (checked by tests/core/test_schema_fuzz.py).
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import AllowAny

ERROR_SCHEMA = {
    "type": "object",
    "description": (
        'An error: {"detail": "<message>"}, or each field with its reasons, '
        'e.g. {"amount": ["Enter a number."]} (non_field_errors for the whole request).'
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {},
}

# For a response that is either an operation's own body or a plain error.
ERROR_REF = {"$ref": "#/components/schemas/Error"}

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: each field with the reason.",
    "401": "Not logged in: send `Authorization: Token <key>`.",
    "403": "Your role (or the portal) does not allow this.",
    "404": "Not found: no such object in your tenant, or an unknown X-Tenant.",
    "413": "The request body is over its size limit.",
    "415": "The request body is not in a media type this operation reads.",
    "422": "This Idempotency-Key was used with another request.",
    "429": "Too many requests: wait for the time given in Retry-After.",
}


class BillingAutoSchema(AutoSchema):
    """AutoSchema that adds the error responses an operation can give to its successes,
    and the ``Idempotency-Key`` header where the operation takes one."""

    def _is_idempotent(self) -> bool:
        name = getattr(self.view, "action", None) or self.method.lower()
        return getattr(getattr(self.view, name, None), "takes_idempotency_key", False)

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._is_idempotent():
            from .idempotency import IDEMPOTENCY_PARAMETER

            parameters = [*parameters, IDEMPOTENCY_PARAMETER]
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        self._register_error()
        for code in self._error_codes():
            responses.setdefault(
                code,
                {
                    "content": {"application/json": {"schema": ERROR_REF}},
                    "description": ERROR_DESCRIPTIONS[code],
                },
            )
        return responses

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        # Output fields only some roles get (``Meta.role_dependent_fields``) are optional.
        meta = getattr(serializer, "Meta", None)
        optional = set(getattr(meta, "role_dependent_fields", ()))
        if optional and schema.get("required"):
            required = [name for name in schema.pop("required") if name not in optional]
            if required:
                schema["required"] = required
        return schema

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # A blank e-mail or URL is "", which no string format accepts: say "" is allowed.
        # Read-only fields lose allow_blank in DRF, so they are taken as blank-able.
        blank = getattr(field, "allow_blank", False) or field.read_only
        if blank and schema.get("format") in {"email", "uri"}:
            schema["anyOf"] = [{"format": schema.pop("format")}, {"maxLength": 0}]

    def _register_error(self) -> None:
        component = ResolvedComponent(
            name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA
        )
        self.registry.register_on_missing(component)

    def _error_codes(self) -> list[str]:
        view = self.view
        anonymous = not view.get_authenticators() or any(
            isinstance(permission, AllowAny) for permission in view.get_permissions()
        )
        codes = ["400"]
        if not anonymous:
            # Every authenticated call binds a tenant: an unknown X-Tenant is a 404.
            codes += ["401", "403", "404"]
        elif "{" in self.path:
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["413", "415"]
        if self._is_idempotent():
            codes.append("422")
        if view.get_throttles():
            codes.append("429")
        return codes
