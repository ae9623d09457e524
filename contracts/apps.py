from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "contracts"

    def ready(self) -> None:
        from billing_site import billables

        from .choices import TimeEntryState

        # A time entry freezes its rounded and included seconds when billed; only posted
        # billable time can be claimed.
        billables.register(
            "contracts.TimeEntry",
            frozen=("billed_seconds", "included_seconds"),
            claimable={"state": TimeEntryState.POSTED, "billable": True},
        )
        billables.register("contracts.PeriodCharge")
        billables.register("contracts.BlockPurchase")

        # The words of the time, fee, product and block lines contracts bill.
        from .pricing.words import register_renderers

        register_renderers()
