import pytest

from fraud.models import Alert, FraudScore
from fraud.services import entry_score
from fraud.tasks import score_entry
from ledger import services

pytestmark = pytest.mark.django_db(transaction=True)


def _charge(user, amount, **kw):
    acc = user.credit_accounts.get()
    return services.charge_create(actor=user, account_id=acc.pk, amount=amount, currency="EUR",
                                  **kw).entry


def test_committed_charge_is_scored_once_after_commit(customer):
    entry = _charge(customer, 1500)
    fs = FraudScore.objects.get(entry=entry)  # eager Celery ran on commit
    assert fs.model_version and 0 <= fs.score <= 1
    assert not Alert.objects.filter(entry=entry).exists()


def test_large_amount_opens_alert_and_scoring_twice_changes_nothing(customer):
    entry = _charge(customer, 50_000)
    alert = Alert.objects.get(entry=entry)
    assert "large_amount" in alert.reasons and alert.status == "open"
    before = FraudScore.objects.get(entry=entry)
    score_entry.apply(args=[str(entry.pk)])
    entry_score(entry_id=entry.pk)
    assert Alert.objects.filter(entry=entry).count() == 1
    after = FraudScore.objects.get(entry=entry)
    assert (after.score, after.scored_at) == (before.score, before.scored_at)


def test_unknown_entry_is_ignored():
    import uuid

    assert entry_score(entry_id=uuid.uuid4()) is None
