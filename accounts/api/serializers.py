"""Input and output shapes of the accounts API. Inputs whitelist their fields."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import Card, CreditAccount, User
from creditplatform.serializers import StrictIntegerField


class MeOutput(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "email", "roles"]

    def get_roles(self, obj: User) -> list[str]:
        return sorted(g.name for g in obj.groups.all())


class AccountOutput(serializers.ModelSerializer):
    """A credit account; money fields are integers of minor units of ``currency``."""

    available = serializers.IntegerField(read_only=True)

    class Meta:
        model = CreditAccount
        fields = ["id", "currency", "credit_limit", "posted", "pending", "available", "status",
                  "created_at"]
        read_only_fields = fields


class CardOutput(serializers.ModelSerializer):
    """A card as anyone outside the vault sees it: token, bin and last4, never the PAN."""

    class Meta:
        model = Card
        fields = ["id", "account", "bin", "last4", "exp_month", "exp_year", "status", "created_at"]
        read_only_fields = fields


class CardInput(serializers.Serializer):
    """A PAN going into the vault (only on POST; never echoed)."""

    account = serializers.UUIDField()
    pan = serializers.CharField(min_length=13, max_length=23, trim_whitespace=True,
                                write_only=True)
    exp_month = StrictIntegerField(min_value=1, max_value=12)
    exp_year = StrictIntegerField(min_value=2000, max_value=2100)
