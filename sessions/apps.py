from django.apps import AppConfig


class SupportSessionsConfig(AppConfig):
    """Remote-support sessions. Label differs from the package: django.contrib.sessions owns it."""

    name = "sessions"
    label = "support_sessions"
    verbose_name = "Remote sessions"

    def ready(self) -> None:
        from billing_site import billables

        billables.register("support_sessions.RemoteSession")
