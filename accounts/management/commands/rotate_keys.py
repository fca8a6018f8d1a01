"""``manage.py rotate_keys [--add-key] [--batch-size N] [--max-batches N]``.

Key rotation while the platform runs:

1. ``--add-key`` adds a new data key to the ring and makes it active (new writes use it;
   values under older keys stay readable: every process re-reads the ring on an unknown key).
2. Customer data keys wrapped under an older ring key are re-wrapped under the active one.
3. Values encrypted directly under an older ring key (card PANs made before per-customer keys)
   are re-encrypted under their customer's key.

Work goes in batches of rows locked with ``SELECT ... FOR UPDATE SKIP LOCKED``, one transaction
each, so it never blocks live traffic for long; stopping (Ctrl-C, ``--max-batches``) loses
nothing and a later run resumes with what is left. A closing summary says what was done and
what remains. Each run is a security event (``keys.rotated``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import Q
from tqdm import tqdm

from accounts import vault
from accounts.models import Card, CustomerDataKey
from compliance import audit
from compliance.audit import SystemActor
from creditplatform import crypto

ACTOR = SystemActor("rotate_keys")


def _rewrap_batch(active: int, size: int) -> int:
    with transaction.atomic():
        rows = list(CustomerDataKey.objects.select_for_update(skip_locked=True)
                    .filter(wrapped_key__isnull=False).exclude(ring_key_id=active)
                    .order_by("id")[:size])
        for row in rows:
            aad = vault._key_aad(row.user_id)
            secret = crypto.decrypt(bytes(row.wrapped_key), aad=aad)
            row.wrapped_key = crypto.encrypt(secret, aad=aad)
            row.ring_key_id = active
            row.save(update_fields=["wrapped_key", "ring_key_id"])
        return len(rows)


def _legacy_cards() -> Any:
    # ring-encrypted PANs (version byte 0x01) predate per-customer keys
    return Card.objects.filter(~Q(status=Card.Status.CLOSED))


def _reencrypt_batch(size: int, after: Any) -> tuple[int, Any]:
    done = 0
    last = after
    with transaction.atomic():
        qs = (_legacy_cards().select_for_update(skip_locked=True).select_related("account__owner")
              .order_by("id"))
        if after is not None:
            qs = qs.filter(id__gt=after)
        rows = list(qs[:size])
        for card in rows:
            last = card.pk
            version, _ = crypto.header_of(bytes(card.pan_encrypted))
            if version == crypto.CUSTOMER_KEY_VERSION:
                continue
            pan = vault.card_pan(card)
            card.pan_encrypted = vault.seal(card.account.owner, pan, table=vault.CARD_TABLE,
                                            column="pan", row_id=card.pk)
            card.save(update_fields=["pan_encrypted"])
            done += 1
    return done, (last if rows else None)


class Command(BaseCommand):
    help = "Rotate field-encryption keys in resumable batches (see module docstring)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--add-key", action="store_true",
                            help="add a new ring data key and make it active first")
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument("--max-batches", type=int, default=None,
                            help="stop after N batches (resume by running again)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["add_key"]:
            new_id = crypto.add_ring_key()
            with transaction.atomic():
                audit.record("keys.rotated", actor=ACTOR, object_type="key_ring",
                             object_id=new_id, details={"active": new_id})
            self.stdout.write(f"new active ring key: {new_id}")
        active = crypto.keyring().active
        size, max_batches = opts["batch_size"], opts["max_batches"]
        pending = (CustomerDataKey.objects.filter(wrapped_key__isnull=False)
                   .exclude(ring_key_id=active).count())
        bar = tqdm(total=pending, unit="key", desc="re-wrap", disable=opts["no_progress"])
        batches = rewrapped = reencrypted = 0
        while max_batches is None or batches < max_batches:
            n = _rewrap_batch(active, size)
            if not n:
                break
            rewrapped += n
            batches += 1
            bar.update(n)
        bar.close()
        after = None
        while max_batches is None or batches < max_batches:
            n, after = _reencrypt_batch(size, after)
            reencrypted += n
            batches += 1
            if after is None:
                break
        remaining = (CustomerDataKey.objects.filter(wrapped_key__isnull=False)
                     .exclude(ring_key_id=active).count())
        with transaction.atomic():
            audit.record("keys.rewrapped", actor=ACTOR, object_type="key_ring",
                         object_id=active, details={"rewrapped": rewrapped,
                                                    "reencrypted": reencrypted,
                                                    "remaining": remaining})
        self.stdout.write(f"active key {active}: re-wrapped {rewrapped} customer keys, "
                          f"re-encrypted {reencrypted} values, {remaining} keys remaining"
                          + (" (stopped early; run again to resume)" if remaining else ""))
