"""Template helpers of the contracts pages (the shared ``person`` filter, under this library too)."""

from django import template

from billing_site.templatetags.billing import person

register = template.Library()
register.filter("person", person)
