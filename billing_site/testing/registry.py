"""Which factory builds an object of a model, for tests that walk every route.

App factory modules register theirs with ``@register_factory``; a route whose
object cannot be built this way fails the isolation test, so new endpoints
cannot skip it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import models

OBJECT_FACTORIES: dict[type[models.Model], Callable] = {}


def register_factory(factory_class):
    OBJECT_FACTORIES[factory_class._meta.model] = factory_class
    return factory_class


def build_for(model: type[models.Model], tenant):
    """An object of ``model`` owned by ``tenant``, from its registered factory."""
    try:
        factory = OBJECT_FACTORIES[model]
    except KeyError as exc:
        raise LookupError(
            f"No factory registered for {model.__name__}: add @register_factory to one."
        ) from exc
    return factory(tenant=tenant)
