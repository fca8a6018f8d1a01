"""Settings for ``bench/ledger.py``: the platform's settings, with the fraud velocity thresholds
raised so that a benchmark's thousands of charges per account are not declined as velocity
abuse (``card_declined``). The rules still run (same queries), they only approve.

Used with ``DJANGO_SETTINGS_MODULE=bench.bench_settings``; ``ledger.py --production-fraud-rules``
runs with ``creditplatform.settings`` instead.
"""

from creditplatform.settings import *  # noqa: F403

FRAUD_RULES = {
    **globals().get("FRAUD_RULES", {}),
    "velocity_max_count": 1_000_000_000,
    "velocity_max_amount": 10**15,
    "card_testing_max_small": 1_000_000_000,
}
