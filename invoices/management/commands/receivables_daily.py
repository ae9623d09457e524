"""Run the receivables' daily work now (what beat runs every ``RECEIVABLES_RUN_EVERY``
seconds): overdue marks and payment reminders for every tenant. For a deployment without
beat (a cron line) and to catch up at once after an outage; running it twice a day does
nothing the second time."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Mark overdue invoices and send the payment reminders due today, for every tenant."

    def handle(self, *args, **options):
        from invoices.tasks import receivables_daily_task

        done = receivables_daily_task()
        self.stdout.write(", ".join(f"{key}: {value}" for key, value in done.items()))
