from django.apps import AppConfig


class FraudConfig(AppConfig):
    name = "fraud"
    verbose_name = "Fraud"

    def ready(self) -> None:
        from fraud.receivers import on_entry_recorded  # the outbox row, in the transaction
        from ledger.signals import entry_recorded

        entry_recorded.connect(on_entry_recorded, dispatch_uid="fraud.on_entry_recorded")
