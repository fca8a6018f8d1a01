"""Signals the ledger sends to higher apps (fraud, compliance); receivers only queue work.

``entry_posted`` is sent after commit with ``entry_id`` (UUID) and ``kind``.
``entry_recorded`` is sent inside the posting transaction with ``entry_id``, ``kind`` and
``entry`` (the ``JournalEntry`` just written, so receivers need not read it back):
receivers write outbox rows (``creditplatform.webhooks.outbox``) that commit or roll back with
the entry, so no committed entry misses its follow-up work even when the broker is down.
``charge_declined`` is sent when ``charge_create`` refuses a charge (pre-authorization decline
or insufficient credit), inside the caller's transaction (the idempotency record's), with
``actor``, ``account_id``, ``card_id``, ``amount``, ``currency``, ``code`` and ``reasons``.
"""

from django.dispatch import Signal

entry_posted = Signal()
entry_recorded = Signal()
charge_declined = Signal()
