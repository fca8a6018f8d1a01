"""View plumbing shared by every app's API: idempotent POSTs answered uniformly.

The runner is named by ``settings.IDEMPOTENCY_RUNNER`` (default
``ledger.idempotency.run_idempotent``) so that lower apps (accounts) use it without importing
the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from creditplatform.api import PROBLEM_CONTENT_TYPE

IDEMPOTENCY_HEADER = "Idempotency-Key"


@lru_cache(maxsize=2)
def _runner(path: str) -> Callable[..., Any]:
    return import_string(path)


def idempotent_post(
    request: Request,
    *,
    input_serializer: type[serializers.Serializer],
    operation: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]],
) -> Response:
    """Validate the body, then run ``operation(validated_data)`` exactly once per key.

    Order: the ``Idempotency-Key`` header is checked first (400 when missing or invalid),
    then the body (400 ``validation_error``, not stored, so a corrected retry may reuse the
    key), then the idempotent run. ``operation`` returns ``(status, body)``.
    """
    run = _runner(settings.IDEMPOTENCY_RUNNER)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    import_string(settings.IDEMPOTENCY_KEY_VALIDATOR)(key)
    data = request.data
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    ser = input_serializer(data=data)
    ser.is_valid(raise_exception=True)
    result = run(
        actor=request.user, key=key, method=request.method, route=request.path, body=data,
        operation=lambda: operation(dict(ser.validated_data)),
    )
    response = Response(result.body, status=result.status)
    if result.status >= 400:
        response.content_type = PROBLEM_CONTENT_TYPE
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response
