"""The Celery app of the worker processes the fault tests start (``celery -A
tests.faults.worker_app worker``): the platform's app, plus the scoring gate of
:mod:`tests.faults.hooks` (inert unless the test arms it)."""

from __future__ import annotations

from django.db.models.signals import post_save

from creditplatform.celery import app
from tests.faults.hooks import block_in_scoring

__all__ = ["app"]

# A lazy sender ("app_label.Model"): connected once the model class is registered.
post_save.connect(block_in_scoring, sender="fraud.FraudScore", weak=False,
                  dispatch_uid="faults.block_scoring")
