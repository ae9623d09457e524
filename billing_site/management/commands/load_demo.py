from django.core.management.base import BaseCommand
from django.db import transaction

from billing_site.demo import load_demo


class Command(BaseCommand):
    help = "Build (or complete) the demo MSP tenant and print its logins. Safe to run again."

    def handle(self, *args, **options):
        with transaction.atomic():
            ctx = load_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo tenant: {ctx.tenant.name} ({ctx.tenant.slug})"))
        self.stdout.write("Logins (username / password / role):")
        for username, password, role in ctx.logins:
            self.stdout.write(f"  {username:<14} {password:<20} {role}")
