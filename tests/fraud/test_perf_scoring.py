"""Cost shape of scoring and pre-authorization (issue 6, parts 2 and 8): no scan of history per
request. Counted in SQL statements, not time (the machine is shared): scoring reads the journal
for the scored entry only, and neither scoring nor pre-authorization issues more statements as
an account's history grows; a batch task costs the same statements whatever its size."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fraud.features import DAY, ORIGIN
from fraud.models import FraudScore
from fraud.tasks import score_entries, score_entry
from ledger import services
from ledger.preauth import PreauthRequest
from ledger.signals import entry_recorded
from tests.factories import CustomerFactory, add_card

pytestmark = pytest.mark.django_db(transaction=True)
T0 = 75 * DAY


@pytest.fixture
def history(settings):
    """60 committed, unscored charges of one card at two merchants over 30 days."""
    from fraud.receivers import on_entry_recorded

    settings.FRAUD_RULES = {"velocity_max_count": 10**9, "card_testing_max_small": 10**9,
                            "velocity_max_amount": 10**15}
    user = CustomerFactory(credit_limit=10**10)
    card = add_card(user)
    account = user.credit_accounts.get()
    entry_recorded.disconnect(dispatch_uid="fraud.on_entry_recorded")
    try:
        entries = [services.charge_create(
            actor=user, account_id=account.pk, amount=1000 + 37 * i, currency="EUR",
            card_id=card.pk, merchant=f"shop-{i % 2}",
            occurred_at=ORIGIN + dt.timedelta(seconds=T0 + i * DAY // 2)).entry
            for i in range(60)]
    finally:
        entry_recorded.connect(on_entry_recorded, dispatch_uid="fraud.on_entry_recorded")
    return user, card, account, entries


def _statements(fn):
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return [q["sql"] for q in ctx.captured_queries]


def test_scoring_an_entry_reads_no_history_and_costs_the_same_late_as_early(history):
    _user, _card, _account, entries = history
    first = _statements(lambda: score_entry(str(entries[0].pk)))
    score_entry(str(entries[1].pk))
    # the account's and each merchant's state row exist from here on (the first scoring at a
    # merchant or account creates its row: two statements more)
    early = _statements(lambda: score_entry(str(entries[2].pk)))
    assert len(first) == len(early) + 2
    for e in entries[3:58]:
        score_entry(str(e.pk))
    late = _statements(lambda: score_entry(str(entries[58].pk)))
    assert len(late) == len(early) <= 10
    journal = [s for s in late if '"ledger_journalentry"' in s or "ledger_journalentry " in s]
    assert len(journal) == 2                       # the entry, and the merchant-alert join
    assert all('"ledger_journalentry"."id" =' in s or "fraud_alert" in s for s in journal)
    # the history was there: the features saw it
    from fraud import feature_store
    from fraud.features import FEATURES

    assert feature_store.snapshot(entries[58].pk)[FEATURES.index("c_cnt_30d")] == 58   # 29 days


def test_a_batch_task_costs_the_same_statements_for_5_or_50_entries(history):
    _user, _card, _account, entries = history
    score_entries([str(entries[0].pk), str(entries[1].pk)])   # creates the state rows
    small = _statements(lambda: score_entries([str(e.pk) for e in entries[2:7]]))
    large = _statements(lambda: score_entries([str(e.pk) for e in entries[7:55]]))
    assert len(large) == len(small) <= 10
    assert FraudScore.objects.filter(entry__in=entries[:55]).count() == 55


def test_pre_authorization_is_one_statement_whatever_the_history(history):
    from fraud.preauth import decide

    _user, card, account, entries = history
    card.refresh_from_db()
    when = entries[-1].occurred_at + dt.timedelta(minutes=1)
    request = PreauthRequest(account=account, card=card, amount=2000, currency="EUR",
                             merchant="shop-0", occurred_at=when)
    sql = _statements(lambda: decide(request))
    assert len(sql) == 1 and "ledger_journalentry" in sql[0] and "ledger_hold" in sql[0]
    # a cardholder with no history: the same single statement
    other = CustomerFactory()
    fresh = PreauthRequest(account=other.credit_accounts.get(), card=None, amount=2000,
                           currency="EUR", merchant="shop-0", occurred_at=when)
    assert len(_statements(lambda: decide(fresh))) == 1
