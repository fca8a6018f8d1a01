from django.apps import AppConfig


class FraudConfig(AppConfig):
    name = "fraud"
    verbose_name = "Fraud"

    def ready(self) -> None:
        from fraud.receivers import on_entry_posted
        from ledger.signals import entry_posted

        entry_posted.connect(on_entry_posted, dispatch_uid="fraud.on_entry_posted")
