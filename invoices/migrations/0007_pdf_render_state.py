# The PDF's durable render state: version, pending since, last queued, renders started.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('invoices', '0006_line_facts'),
    ]

    operations = [
        migrations.AddField(
            model_name='invoice',
            name='pdf_attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='Renders started for the current version (a cap stops a loop).'),
        ),
        migrations.AddField(
            model_name='invoice',
            name='pdf_pending_since',
            field=models.DateTimeField(blank=True, help_text='When the PDF became pending (UTC); empty otherwise.', null=True),
        ),
        migrations.AddField(
            model_name='invoice',
            name='pdf_queued_at',
            field=models.DateTimeField(blank=True, help_text='When its render task was last queued (UTC).', null=True),
        ),
        migrations.AddField(
            model_name='invoice',
            name='pdf_version',
            field=models.PositiveIntegerField(default=0, help_text='Bumped each time a new PDF is asked for (finalise, void, render).'),
        ),
        migrations.AddIndex(
            model_name='invoice',
            index=models.Index(condition=models.Q(('pdf_status', 'pending')), fields=['tenant', 'pdf_queued_at'], name='invoice_pdf_pending'),
        ),
    ]
