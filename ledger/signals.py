"""Signals the ledger sends to higher apps (fraud, compliance); receivers only queue work.

``entry_posted`` is sent after commit with ``entry_id`` (UUID) and ``kind``.
"""

from django.dispatch import Signal

entry_posted = Signal()
