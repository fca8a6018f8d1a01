"""The platform's own Prometheus metrics (prometheus_client), served with django-prometheus's
at ``/metrics``, which is not public: see :func:`metrics_view`.

==============================================  =========================================
``creditplatform_charges_total{outcome}``       charges committed (``approved``) or refused
                                                (``declined``, ``insufficient_credit``)
``creditplatform_fraud_decisions_total``        ``{stage="preauth", decision=approve|review|
                                                decline}`` and ``{stage="score",
                                                decision=alert|pass}``
``creditplatform_idempotent_replays_total``     answers replayed for a repeated key
``creditplatform_fraud_score_lag_seconds``      charge commit to its FraudScore (task lag)
``creditplatform_outbox_dispatch_lag_seconds``  outbox row written to published
``creditplatform_outbox_dispatched_total``      outbox rows published, by topic
``creditplatform_webhook_deliveries_total``     delivery attempts by outcome
``creditplatform_webhook_delivery_failures_total``  failed attempts by event type
==============================================  =========================================

Several gunicorn workers: set ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess
mode) so ``/metrics`` adds up every worker.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import Counter, Histogram

CHARGES = Counter("creditplatform_charges", "Charges by outcome.", ["outcome"])
FRAUD_DECISIONS = Counter("creditplatform_fraud_decisions",
                          "Fraud decisions by stage (preauth rules, post-commit score).",
                          ["stage", "decision"])
IDEMPOTENT_REPLAYS = Counter("creditplatform_idempotent_replays",
                             "Responses replayed for a repeated Idempotency-Key.")
SCORE_LAG = Histogram("creditplatform_fraud_score_lag_seconds",
                      "Seconds from a charge's commit to its fraud score.",
                      buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900))
OUTBOX_LAG = Histogram("creditplatform_outbox_dispatch_lag_seconds",
                       "Seconds from an outbox row's write to its publication.",
                       buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 3600))
OUTBOX_DISPATCHED = Counter("creditplatform_outbox_dispatched", "Outbox rows published.",
                            ["topic"])
WEBHOOK_DELIVERIES = Counter("creditplatform_webhook_deliveries",
                             "Webhook delivery attempts by outcome.", ["outcome"])
WEBHOOK_FAILURES = Counter("creditplatform_webhook_delivery_failures",
                           "Failed webhook delivery attempts by event type.", ["event_type"])


def charge_outcome(outcome: str, preauth_decision: str | None) -> None:
    """Count one charge (called on commit)."""
    CHARGES.labels(outcome=outcome).inc()
    if preauth_decision:
        FRAUD_DECISIONS.labels(stage="preauth", decision=preauth_decision).inc()


def score_recorded(decision: str, lag_seconds: float | None) -> None:
    """Count one post-commit fraud score and observe its lag."""
    FRAUD_DECISIONS.labels(stage="score", decision=decision).inc()
    if lag_seconds is not None:
        SCORE_LAG.observe(max(0.0, lag_seconds))


class PlatformMetricsMiddleware:
    """Counts replayed idempotent answers (the ``Idempotent-Replayed: true`` header)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        response = self.get_response(request)
        if response.get("Idempotent-Replayed") == "true":
            IDEMPOTENT_REPLAYS.inc()
        return response


def _allowed(request: HttpRequest) -> bool:
    token = getattr(settings, "METRICS_BEARER_TOKEN", "")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(
            header[7:].encode(), token.encode()):
        return True
    try:
        remote = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(remote in ipaddress.ip_network(n, strict=False)
               for n in getattr(settings, "METRICS_ALLOWED_NETWORKS", []))


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition (django-prometheus's and ours) for allowed callers only: a
    ``REMOTE_ADDR`` in ``settings.METRICS_ALLOWED_NETWORKS`` (default loopback) or
    ``Authorization: Bearer <METRICS_BEARER_TOKEN>``. Anyone else gets 404, as for a missing
    page (behind a proxy REMOTE_ADDR is the proxy: use the token)."""
    if not _allowed(request):
        return JsonResponse({"status": 404, "code": "not_found", "title": "Not found",
                             "type": "/problems/not_found", "detail": "No such resource."},
                            status=404, content_type="application/problem+json")
    from django_prometheus.exports import ExportToDjangoView

    return ExportToDjangoView(request)
