"""creditplatform: a Django credit platform (ledger, access, data protection, fraud, compliance)."""

from .celery import app as celery_app

__all__ = ["celery_app"]
