"""Every route registered in the URL resolver, with what a test needs to call it.

Walked by the isolation tests so that every later page and endpoint is covered
without being listed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver

# Routes outside the tenant wall, each tested on its own.
EXCLUDED_NAMES = {
    "login",
    "logout",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "healthz",
    "api-token",
    "api-schema",
    "api-docs",
    "api-redoc",
    "api-root",
}
EXCLUDED_NAMESPACES = {"admin", "portal", "portal-api"}


@dataclass
class Route:
    name: str  # namespaced, for reverse()
    kwargs: list[str]
    view_class: type
    actions: dict[str, str] = field(default_factory=dict)  # DRF viewset: method -> action
    is_api: bool = False

    @property
    def methods(self) -> set[str]:
        if self.actions:
            return {m.upper() for m in self.actions}
        names = getattr(self.view_class, "http_method_names", [])
        return {
            m.upper() for m in names if hasattr(self.view_class, m) and m not in ("options", "head")
        }

    def model_for(self, kwarg: str):
        declared = getattr(self.view_class, "url_kwarg_models", {}) or {}
        if kwarg in declared:
            return declared[kwarg]
        if kwarg == "pk":
            queryset = getattr(self.view_class, "queryset", None)
            if queryset is not None:
                return queryset.model
            model = getattr(self.view_class, "model", None)
            if model is not None:
                return model
        raise LookupError(
            f"{self.view_class.__name__} ({self.name}): declare the model of URL kwarg '{kwarg}' "
            "(attribute `model`, `queryset` or `url_kwarg_models`)."
        )

    def __str__(self) -> str:
        return self.name


def _pattern_kwargs(pattern) -> list[str]:
    if hasattr(pattern, "converters") and getattr(pattern, "_route", None) is not None:
        return list(pattern.converters)
    return list(pattern.regex.groupindex)


def iter_routes(resolver=None, namespace: str | None = None, inherited: list[str] | None = None):
    resolver = resolver or get_resolver()
    inherited = inherited or []
    for entry in resolver.url_patterns:
        kwargs = inherited + _pattern_kwargs(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            if ns in EXCLUDED_NAMESPACES:
                continue
            full_ns = ":".join(filter(None, [namespace, ns])) if ns else namespace
            yield from iter_routes(entry, full_ns, kwargs)
        elif isinstance(entry, URLPattern):
            if not entry.name or entry.name in EXCLUDED_NAMES or "format" in kwargs:
                continue
            callback = entry.callback
            view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
            if view_class is None:
                continue
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield Route(
                name=name,
                kwargs=kwargs,
                view_class=view_class,
                actions=dict(getattr(callback, "actions", None) or {}),
                is_api=hasattr(view_class, "permission_classes") and hasattr(view_class, "initial"),
            )


def all_routes() -> list[Route]:
    seen: dict[str, Route] = {}
    for route in iter_routes():
        seen.setdefault(route.name, route)
    return sorted(seen.values(), key=lambda r: r.name)
