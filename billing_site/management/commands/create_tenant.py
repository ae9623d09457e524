from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from billing_site.services import tenant_create


class Command(BaseCommand):
    help = "Create an MSP tenant with its owner login."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True)
        parser.add_argument("--currency", required=True, help="ISO 4217 code, e.g. EUR")
        parser.add_argument("--time-zone", required=True, help="IANA zone, e.g. Europe/Paris")
        parser.add_argument("--country", default="", help="ISO 3166 code, e.g. FR")
        parser.add_argument("--owner-username", required=True)
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--owner-password", required=True)

    def handle(self, *args, **options):
        try:
            tenant = tenant_create(
                name=options["name"],
                slug=options["slug"],
                currency=options["currency"].upper(),
                time_zone=options["time_zone"],
                country=options["country"].upper(),
                owner_username=options["owner_username"],
                owner_email=options["owner_email"],
                owner_password=options["owner_password"],
            )
        except ValidationError as error:
            lines = []
            for field, messages in getattr(
                error, "message_dict", {"__all__": error.messages}
            ).items():
                lines += [f"{field}: {message}" for message in messages]
            raise CommandError("Tenant not created.\n" + "\n".join(lines)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Tenant '{tenant.slug}' created; owner '{options['owner_username']}'."
            )
        )
