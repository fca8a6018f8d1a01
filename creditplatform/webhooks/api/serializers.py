"""Input and output shapes of the webhooks API (fields whitelisted: no mass assignment)."""

from __future__ import annotations

from rest_framework import serializers

from creditplatform.webhooks.events import EVENT_TYPES


class EndpointInput(serializers.Serializer):
    url = serializers.URLField(max_length=500, help_text="https URL of a public host.")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES), min_length=1, max_length=20)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                        default="")


class RotateInput(serializers.Serializer):
    overlap_seconds = serializers.IntegerField(
        min_value=0, max_value=7 * 24 * 3600, required=False,
        help_text="How long the previous secret keeps signing (default 24 h; 0: stop now).")


class EndpointOutput(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    event_types = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    is_active = serializers.BooleanField()
    previous_secret_expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class EndpointSecretOutput(EndpointOutput):
    secret = serializers.CharField(help_text="Shown once: store it to verify signatures.")
