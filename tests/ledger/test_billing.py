"""Billing cycles (ledger/billing.py): rounding, exactly-once closing (also concurrently on
PostgreSQL), catch-up by the beat task, late arrivals, grace boundary, delinquency buckets and
the freeze, the over-limit cap, and the cardholder API. Hand-computed statements are in
``test_worked_examples.py`` (same set-up: APR 18.25 %, so interest = sum of daily balances
/ 2000; cycle day 15; account opened 2026-03-16)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
from django.db import connection

from accounts.models import Card, CreditAccount
from compliance.models import AuditEvent
from ledger import billing, services, tasks
from ledger.billing_models import BillingStatement, BillingTerms
from ledger.exceptions import AccountNotActive
from ledger.models import JournalEntry
from ledger.preauth import APPROVE, PreauthDecision
from tests.factories import ACTOR, CustomerFactory, add_card

UTC = dt.UTC
BILLING = {
    "DEFAULT_APR_BPS": 1825, "DEFAULT_CYCLE_DAY": 15, "DUE_DAYS": 25,
    "MIN_PAYMENT_FLOOR": 2500, "MIN_PAYMENT_PRINCIPAL_BPS": 100, "LATE_FEE": 3000,
    "FREEZE_AT_BUCKET": "60",
}


def approve_all(request: Any) -> PreauthDecision:
    return PreauthDecision(APPROVE, [])


@pytest.fixture(autouse=True)
def _billing_settings(settings: Any) -> None:
    settings.LEDGER_PREAUTH = f"{__name__}.approve_all"
    settings.BILLING = dict(BILLING)


def opened(user: Any, *, apr_bps: int = 1825) -> CreditAccount:
    acc = CreditAccount.objects.get(owner=user)
    CreditAccount.objects.filter(pk=acc.pk).update(
        created_at=dt.datetime(2026, 3, 16, 9, 0, tzinfo=UTC))
    BillingTerms.objects.create(account=acc, apr_bps=apr_bps, cycle_day=15)
    acc.refresh_from_db()
    return acc


def at(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 12, 0, tzinfo=UTC)


def charge(acc: CreditAccount, amount: int, when: dt.datetime) -> JournalEntry:
    return services.charge_create(actor=ACTOR, account_id=acc.pk, amount=amount,
                                  currency="EUR", occurred_at=when).entry


def close(acc: CreditAccount, month: int, day: int) -> BillingStatement:
    return billing.statement_close(actor=ACTOR, account_id=acc.pk,
                                   period_end=dt.date(2026, month, day))


# --- rounding: the one function ---------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (Fraction(5, 2), 2), (Fraction(7, 2), 4), (Fraction(-5, 2), -2), (Fraction(-7, 2), -4),
    (Decimal("150.5"), 150), (Decimal("155.5"), 156), (Decimal("274.75"), 275),
    (Decimal("217.725"), 218), (Fraction(1, 3), 0), (Fraction(2, 3), 1), (Fraction(-2, 3), -1),
    (7, 7),
])
def test_round_minor_half_even(value: Any, expected: int) -> None:
    assert billing.round_minor(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (Fraction(5, 2), 3), (Decimal("150.5"), 151), (Fraction(-5, 2), -3), (Decimal("1.49"), 1),
])
def test_round_minor_half_up(value: Any, expected: int) -> None:
    assert billing.round_minor(value, ROUND_HALF_UP) == expected


def test_round_minor_refuses_floats_and_unknown_rules() -> None:
    with pytest.raises(TypeError):
        billing.round_minor(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        billing.round_minor(Fraction(1, 2), "ROUND_CEILING")


def test_bucket_boundaries() -> None:
    assert [billing.bucket_for(d) for d in (0, 29, 30, 59, 60, 89, 90, 400)] == [
        "current", "current", "30", "30", "60", "60", "90", "90"]


def test_next_cycle_end() -> None:
    assert billing.next_cycle_end(start=dt.date(2026, 3, 16), cycle_day=15) == dt.date(2026, 4, 15)
    assert billing.next_cycle_end(start=dt.date(2026, 3, 15), cycle_day=15) == dt.date(2026, 3, 15)
    assert billing.next_cycle_end(start=dt.date(2026, 12, 29), cycle_day=28) == dt.date(2027, 1, 28)


# --- exactly once ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_closing_twice_returns_the_same_statement_and_posts_once(customer: Any) -> None:
    acc = opened(customer)
    charge(acc, 10_000, at(3, 20))
    close(acc, 4, 15)
    first = close(acc, 5, 15)
    again = close(acc, 5, 15)
    assert again.pk == first.pk and first.interest > 0
    assert JournalEntry.objects.filter(account=acc, kind="interest").count() == 1
    assert BillingStatement.objects.filter(account=acc).count() == 2
    acc.refresh_from_db()
    assert acc.posted == first.closing_balance
    with pytest.raises(billing.StatementOutOfOrder):
        close(acc, 5, 1)  # inside a closed period


@pytest.mark.django_db
def test_only_the_platform_closes_statements(customer: Any) -> None:
    from creditplatform.errors import NotFoundError

    acc = opened(customer)
    with pytest.raises(NotFoundError):
        billing.statement_close(actor=customer, account_id=acc.pk,
                                period_end=dt.date(2026, 4, 15))
    with pytest.raises(NotFoundError):
        billing.statement_close(actor=ACTOR, account_id="nope", period_end=dt.date(2026, 4, 15))
    assert not BillingStatement.objects.exists()


@pytest.mark.django_db
def test_statements_are_append_only_in_postgresql(customer: Any) -> None:
    from django.db import DatabaseError, transaction

    acc = opened(customer)
    charge(acc, 10_000, at(3, 20))
    st = close(acc, 4, 15)
    for attempt in (lambda: BillingStatement.objects.filter(pk=st.pk).update(interest=1),
                    lambda: BillingStatement.objects.filter(pk=st.pk).delete()):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    st.refresh_from_db()
    assert st.interest == 0 and st.closing_balance == 10_000


@pytest.mark.django_db
def test_beat_task_catches_up_every_cycle_once(customer: Any) -> None:
    acc = opened(customer)
    charge(acc, 10_000, at(3, 20))
    assert tasks.billing_close_cycles("2026-06-20") == 3
    assert tasks.billing_close_cycles("2026-06-20") == 0
    ends = list(BillingStatement.objects.filter(account=acc).order_by("period_end")
                .values_list("period_start", "period_end"))
    assert ends == [(dt.date(2026, 3, 16), dt.date(2026, 4, 15)),
                    (dt.date(2026, 4, 16), dt.date(2026, 5, 15)),
                    (dt.date(2026, 5, 16), dt.date(2026, 6, 15))]
    # a cycle ending on as_of itself is not over yet
    assert tasks.billing_close_cycles("2026-07-15") == 0
    assert tasks.billing_close_cycles("2026-07-16") == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_close_each_period_exactly_once() -> None:
    """Four threads (four PostgreSQL connections) run the daily job at once over five
    accounts with two cycles due: exactly one statement per account and period, one interest
    entry per account, and balances that match the statements."""
    accounts = []
    for _ in range(5):
        acc = opened(CustomerFactory())
        charge(acc, 10_000, at(3, 20))
        accounts.append(acc)
    barrier = threading.Barrier(4)
    created: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            created.append(billing.billing_run(as_of=dt.date(2026, 5, 20)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(created) == 10, created
    for acc in accounts:
        statements = list(BillingStatement.objects.filter(account=acc).order_by("period_end"))
        assert [s.period_end for s in statements] == [dt.date(2026, 4, 15),
                                                       dt.date(2026, 5, 15)]
        assert JournalEntry.objects.filter(account=acc, kind="interest").count() == 1
        acc.refresh_from_db()
        assert acc.posted == statements[-1].closing_balance


@pytest.mark.django_db(transaction=True)
def test_payments_racing_the_close_land_in_exactly_one_statement() -> None:
    """Eight payments dated on the period's last day commit while the daily job closes that
    period (nine PostgreSQL connections): each is in the closing statement or, booked after
    it, a late arrival of the next one; never in both, never lost."""
    acc = opened(CustomerFactory())
    charge(acc, 50_000, at(3, 20))
    barrier = threading.Barrier(9)
    errors: list[BaseException] = []

    def work(fn: Any) -> None:
        try:
            barrier.wait(timeout=30)
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def pay() -> None:
        services.payment_create(actor=ACTOR, account_id=acc.pk, amount=1_000, currency="EUR",
                                occurred_at=at(4, 15))

    def run() -> None:
        billing.billing_run(as_of=dt.date(2026, 4, 16))

    threads = [threading.Thread(target=work, args=(f,)) for f in [run] + [pay] * 8]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    st1 = BillingStatement.objects.get(account=acc, period_end=dt.date(2026, 4, 15))
    st2 = close(acc, 5, 15)
    assert st1.payments + st2.payments == 8_000
    assert st1.closing_balance == 50_000 - st1.payments
    acc.refresh_from_db()
    assert acc.posted == st2.closing_balance


# --- what a period contains --------------------------------------------------------------------

@pytest.mark.django_db
def test_entry_booked_late_into_a_closed_period_goes_to_the_next_statement(customer: Any) -> None:
    acc = opened(customer)
    charge(acc, 10_000, at(3, 20))
    st1 = close(acc, 4, 15)
    late = charge(acc, 1_000, at(4, 1))  # dated in the closed period, booked after its close
    st2 = close(acc, 5, 15)
    assert st1.closing_balance == 10_000
    assert st2.purchases == 1_000
    assert st2.closing_balance == st2.opening_balance + st2.purchases + st2.interest + st2.fees
    from ledger.selectors import billing_statement_entries

    assert late.pk in {e.pk for e in billing_statement_entries(statement=st2)}
    assert late.pk not in {e.pk for e in billing_statement_entries(statement=st1)}


@pytest.mark.django_db
def test_paid_in_full_on_the_due_date_keeps_the_grace_period(customer: Any) -> None:
    acc = opened(customer)
    charge(acc, 10_000, at(3, 20))
    close(acc, 4, 15)  # due 2026-05-10
    services.payment_create(actor=ACTOR, account_id=acc.pk, amount=10_000, currency="EUR",
                            occurred_at=dt.datetime(2026, 5, 10, 23, 59, tzinfo=UTC))
    st2 = close(acc, 5, 15)
    assert st2.paid_in_full_prior is True and st2.interest == 0 and st2.fees == 0


@pytest.mark.django_db
def test_paid_in_full_one_day_late_pays_interest_and_late_fee(customer: Any) -> None:
    acc = opened(customer)
    charge(acc, 10_000, at(3, 20))
    close(acc, 4, 15)
    services.payment_create(actor=ACTOR, account_id=acc.pk, amount=10_000, currency="EUR",
                            occurred_at=dt.datetime(2026, 5, 11, 0, 1, tzinfo=UTC))
    st2 = close(acc, 5, 15)
    # 04-16..05-10: 25 x 10 000 = 250 000; 05-11..05-15: 5 x 0 -> interest 250 000 / 2000 = 125
    assert (st2.paid_in_full_prior, st2.interest, st2.fees) == (False, 125, 2_500)
    assert st2.closing_balance == 125 + 2_500


@pytest.mark.django_db
def test_a_reversed_payment_neither_pays_in_full_nor_meets_the_minimum(customer: Any) -> None:
    acc = opened(customer)
    charge(acc, 10_000, at(3, 20))
    close(acc, 4, 15)
    bounced = services.payment_create(actor=ACTOR, account_id=acc.pk, amount=10_000,
                                      currency="EUR", occurred_at=at(5, 5))
    services.reversal_create(actor=ACTOR, entry_id=bounced.pk, reason="returned by the bank")
    st2 = close(acc, 5, 15)
    # the reversal is dated today (after this period): the payment still lowers the daily
    # balances from 05-05, 19 x 10 000 = 190 000 -> interest 95; no grace, late fee 25.00
    assert (st2.paid_in_full_prior, st2.interest, st2.fees) == (False, 95, 2_500)


# --- delinquency and the freeze ----------------------------------------------------------------

@pytest.mark.django_db
def test_missed_minimums_move_through_buckets_and_freeze_at_60(customer: Any) -> None:
    acc = opened(customer)
    card = add_card(customer)
    charge(acc, 17_550, at(3, 20))
    st1 = close(acc, 4, 15)
    st2 = close(acc, 5, 15)
    # due 05-10 missed: 5 days past due on 05-15, late fee = min(30.00, 25.00), past due 25.00
    assert (st2.days_past_due, st2.delinquency_bucket, st2.fees) == (5, "current", 2_500)
    assert st2.past_due_amount == st1.minimum_payment == 2_500
    # minimum = max(2 500, round(175.50) + 263 + 2 500) + past due 2 500 = 2 939 + 2 500
    assert st2.interest == 263 and st2.minimum_payment == 5_439
    st3 = close(acc, 6, 15)
    assert (st3.days_past_due, st3.delinquency_bucket, st3.fees) == (36, "30", 3_000)
    acc.refresh_from_db()
    assert acc.status == "active"
    st4 = close(acc, 7, 15)
    assert (st4.days_past_due, st4.delinquency_bucket) == (66, "60")
    acc.refresh_from_db()
    card.refresh_from_db()
    assert acc.status == "frozen" and card.status == Card.Status.FROZEN
    assert AuditEvent.objects.filter(event_type="account.frozen", object_id=str(acc.pk)).exists()
    assert BillingTerms.objects.get(account=acc).delinquency_bucket == "60"
    # a frozen account refuses charges but still takes payments
    with pytest.raises(AccountNotActive):
        charge(acc, 100, at(7, 16))
    services.payment_create(actor=ACTOR, account_id=acc.pk, amount=st4.minimum_payment,
                            currency="EUR", occurred_at=at(7, 20))
    st5 = close(acc, 8, 15)
    assert (st5.days_past_due, st5.delinquency_bucket) == (0, "current")


@pytest.mark.django_db
def test_interest_and_fee_never_exceed_the_credit_limit(settings: Any) -> None:
    user = CustomerFactory(credit_limit=10_000)
    acc = opened(user)
    charge(acc, 9_990, at(3, 20))
    close(acc, 4, 15)
    st2 = close(acc, 5, 15)  # interest 30 x 9 990 / 2000 = 149.85 -> 150, late fee 2 500
    assert st2.interest == 10 and st2.fees == 0
    acc.refresh_from_db()
    assert acc.posted == 10_000 == st2.closing_balance
    event = AuditEvent.objects.get(event_type="statement.closed", object_id=str(st2.pk))
    assert event.details["waived"] == {"interest": 140, "late_fee": 2_500}


# --- cardholder API ----------------------------------------------------------------------------

@pytest.mark.django_db
def test_statement_api_lists_details_and_minimum_payment(customer: Any, api: Any) -> None:
    acc = opened(customer)
    charge(acc, 10_000, at(3, 20))
    close(acc, 4, 15)
    services.payment_create(actor=ACTOR, account_id=acc.pk, amount=3_000, currency="EUR",
                            occurred_at=at(5, 1))
    st2 = close(acc, 5, 15)
    client = api(customer)
    listing = client.get(f"/api/v1/accounts/{acc.pk}/statements/")
    assert listing.status_code == 200, listing.content
    rows = listing.json()["results"]
    assert [r["period_end"] for r in rows] == ["2026-05-15", "2026-04-15"]
    assert rows[0]["closing_balance"] == st2.closing_balance and rows[0]["interest"] > 0

    detail = client.get(f"/api/v1/statements/{st2.pk}/")
    assert detail.status_code == 200, detail.content
    body = detail.json()
    assert [e["kind"] for e in body["entries"]] == ["payment", "interest"]
    assert body["closing_principal"] + body["closing_interest_outstanding"] \
        + body["closing_fees_outstanding"] == body["closing_balance"]

    services.payment_create(actor=ACTOR, account_id=acc.pk, amount=1_000, currency="EUR",
                            occurred_at=at(5, 20))
    due = client.get(f"/api/v1/accounts/{acc.pk}/minimum-payment/")
    assert due.status_code == 200, due.content
    assert due.json()["minimum_payment"] == st2.minimum_payment == 2_500
    assert due.json()["remaining"] == 1_500 and due.json()["due_date"] == "2026-06-09"

    other = api(CustomerFactory())
    assert other.get(f"/api/v1/statements/{st2.pk}/").status_code == 404
    assert other.get(f"/api/v1/accounts/{acc.pk}/statements/").status_code == 404
    assert other.get(f"/api/v1/accounts/{acc.pk}/minimum-payment/").status_code == 404
    assert client.get("/api/v1/statements/not-a-uuid/").status_code == 404


@pytest.mark.django_db
def test_minimum_payment_before_the_first_statement(customer: Any, api: Any) -> None:
    acc = CreditAccount.objects.get(owner=customer)
    body = api(customer).get(f"/api/v1/accounts/{acc.pk}/minimum-payment/").json()
    assert (body["minimum_payment"], body["due_date"], body["statement"]) == (0, None, None)


@pytest.mark.django_db
def test_statement_api_query_counts_do_not_grow_with_rows(customer: Any, api: Any) -> None:
    """No N+1: the list, the detail and the minimum payment run the same number of SQL
    statements with 1 statement / 1 entry as with 4 statements / many entries."""
    from django.test.utils import CaptureQueriesContext

    acc = opened(customer)
    client = api(customer)

    def counts() -> dict[str, int]:
        latest = BillingStatement.objects.filter(account=acc).order_by("-period_end").first()
        out = {}
        for name, url in (("list", f"/api/v1/accounts/{acc.pk}/statements/"),
                          ("detail", f"/api/v1/statements/{latest.pk}/"),
                          ("minimum", f"/api/v1/accounts/{acc.pk}/minimum-payment/")):
            with CaptureQueriesContext(connection) as ctx:
                assert client.get(url).status_code == 200
            out[name] = len(ctx.captured_queries)
        return out

    charge(acc, 1_000, at(3, 20))
    close(acc, 4, 15)
    one = counts()
    for month in (4, 5, 6):
        for day in (17, 18, 19, 20):
            charge(acc, 1_000, at(month, day))
        services.payment_create(actor=ACTOR, account_id=acc.pk, amount=2_500, currency="EUR",
                                occurred_at=at(month + 1, 1))
        close(acc, month + 1, 15)
    many = counts()
    print("statement API SQL statements per request:", one, many)
    assert many == one
