"""Tables of the live fraud feature store (:mod:`fraud.feature_store`).

Imported at the end of :mod:`fraud.models` so that Django registers them with the fraud app.
"""

from __future__ import annotations

from django.db import models

__all__ = ["FeatureEntityState", "FeatureSnapshot"]


class FeatureEntityState(models.Model):
    """The incremental feature state of one customer or terminal.

    ``key`` is ``"c:<credit account id>"`` or ``"t:<merchant>"``; ``state`` is the JSON text
    of :meth:`fraud.features.FeatureState.export_entity` (the entity's rolling windows over the
    last 30 days, its known labels of the last label delay + 30 days, and the labels still
    queued for its own transactions); ``clock`` is the entity's stream time (seconds since
    :data:`fraud.features.ORIGIN`). Rows are read ``FOR UPDATE`` and rewritten by the scoring
    transaction, so a state always matches the :class:`FeatureSnapshot` rows committed with it.
    """

    key = models.CharField(max_length=160, primary_key=True)
    state = models.TextField()
    clock = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key} @ {self.clock}"


class FeatureSnapshot(models.Model):
    """The feature vector an entry was scored with (``features``: JSON list of
    :data:`fraud.features.FEATURES` values, ``NaN`` for a missing value, as Python's ``json``
    writes it), written once in the scoring
    transaction: scoring an entry again reads it instead of moving the state a second time,
    and it records the inputs of the score for the support queue."""

    entry_id = models.UUIDField(primary_key=True)
    features = models.TextField()
    t = models.BigIntegerField(help_text="stream time the features were computed at (seconds)")

    def __str__(self) -> str:
        return f"features of {self.entry_id}"
