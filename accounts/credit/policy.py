"""The credit decision and credit-limit policy (docs/credit.md is its documentation).

A pure function of the canonical inputs and the PD model, so that a stored decision can be
replayed to the same result: :func:`decide`. Order:

1. policy rules, first failing rule decides:
   P01 age below the age of majority -> decline (capacity to contract; ECOA permits age here,
       12 CFR 1002.6(b)(2)); P02 identity not verified -> refer (manual KYC);
   P03 existing obligations above the debt-to-income cap -> decline;
   P05 no credit history on the platform (six months without a bill or any activity) ->
       refer: the model would only see "no consumption", and its reasons would not be the
       real one (Regulation B's sample reason "limited credit experience");
2. the PD model: approve below cut-off ``a``, refer in ``[a, b)``, decline from ``b`` (cut-offs
   from the artifact's meta, chosen on out-of-fold PDs of the train part);
3. the credit limit (approve only): the applicant's capacity (income and obligations under the
   DTI cap at a minimum payment rate), times a risk factor, never above the requested limit,
   rounded down to a step; P04 when the capacity is below the minimum line -> decline.

Scoring a dataset CSV (no income) uses the research's limit rule on LIMIT_BAL (``csv`` mode).
Numbers and their sources are the module constants below.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from accounts.credit import pd_model
from accounts.credit.features import BILL_COLUMNS, PAY_COLUMNS, RAW_COLUMNS
from creditplatform.errors import ValidationError

POLICY_VERSION = "2026.11.1"
AGE_OF_MAJORITY = 18  # years; the age of majority in most jurisdictions the platform serves
#: Plausibility bounds of a stated date of birth (input checks, not decision rules): not in the
#: future, not before 1900-01-01, and an age of at most 130 years (the oldest verified person
#: reached 122, Jeanne Calment, 1875-1997). Anything outside is a typing error, not a person.
EARLIEST_DATE_OF_BIRTH = dt.date(1900, 1, 1)
MAX_AGE_YEARS = 130
#: Debt-to-income cap: 43 %, the general Qualified Mortgage limit of the CFPB's
#: Ability-to-Repay rule (12 CFR 1026.43(e)(2)(vi), 2014-2021), used as a conservative cap.
DTI_CAP = 0.43
#: Assumed minimum monthly payment on a fully drawn line (3 % of the limit, a common card
#: minimum-payment rate); converts a limit into a monthly obligation.
MIN_PAYMENT_RATE = 0.03
LIMIT_STEP = 10_000         # minor units: limits are multiples of 100.00
MIN_LIMIT = 50_000          # minor units: the smallest line offered (500.00)
LOW_RISK_FACTOR = 1.0       # PD < a/2: the full capacity
STANDARD_RISK_FACTOR = 0.75  # a/2 <= PD < a: three quarters of it
#: CSV (dataset) mode, the research's rule (docs/research/credit/policy.py), amounts in NT$.
CSV_UPLIFT, CSV_LGD, CSV_EL_MAX, CSV_REFER_FRACTION, CSV_STEP = 1.2, 0.8, 12_000.0, 0.5, 10_000

APPROVE, DECLINE, REFER = "approve", "decline", "refer"
POLICY_REASONS: dict[str, str] = {
    "P01": "Applicant below the age of majority",
    "P02": "Unable to verify identity",
    "P03": "Excessive obligations in relation to income",
    "P04": "Income insufficient for amount of credit requested",
    "P05": "Limited credit experience (no credit history with us)",
}


@dataclass(frozen=True)
class Result:
    """A decision: ``outcome``, ``pd`` (None when a rule decided), ``credit_limit`` (minor
    units; NT$ in csv mode), ``reasons`` principal reasons first, ``rule_trace`` each rule's
    verdict, and the model identity used."""

    outcome: str
    pd: float | None
    credit_limit: int
    reasons: list[dict[str, Any]]
    rule_trace: list[dict[str, Any]] = field(default_factory=list)
    model_version: str = ""
    model_sha256: str = ""


def canonical_json(inputs: dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no spaces, UTF-8) of the inputs: what the hash covers."""
    return json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def inputs_sha256(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(inputs)).hexdigest()


def age_on(date_of_birth: dt.date, day: dt.date) -> int:
    """Whole years of age on ``day``."""
    return day.year - date_of_birth.year - (
        (day.month, day.day) < (date_of_birth.month, date_of_birth.day))


class InvalidDateOfBirth(ValidationError):
    """A date of birth no living person has (future, before 1900-01-01, over 130 years): 400
    ``invalid_date_of_birth``. Under the age of majority is not this error: it is a decision
    (P01 decline, with its adverse-action reason)."""

    code = "invalid_date_of_birth"
    title = "Invalid date of birth"


def date_of_birth_check(date_of_birth: dt.date, *, today: dt.date) -> dt.date:
    """Return ``date_of_birth`` when it is plausible on ``today``.

    Raises:
        InvalidDateOfBirth: it is after ``today``, before :data:`EARLIEST_DATE_OF_BIRTH`, or
            more than :data:`MAX_AGE_YEARS` years before ``today``; ``extra`` names the
            accepted range (``earliest``, ``latest`` as ISO dates).
    """
    earliest = max(EARLIEST_DATE_OF_BIRTH, _years_before(today, MAX_AGE_YEARS + 1)
                   + dt.timedelta(days=1))
    if not earliest <= date_of_birth <= today:
        raise InvalidDateOfBirth(
            f"date_of_birth must be between {earliest.isoformat()} and {today.isoformat()}.",
            extra={"earliest": earliest.isoformat(), "latest": today.isoformat()})
    return date_of_birth


def _years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _reason(code: str) -> dict[str, Any]:
    return {"code": code, "text": POLICY_REASONS[code]}


def capacity(monthly_income: int, monthly_obligations: int) -> int:
    """The largest limit (minor units) whose minimum payment keeps DTI under the cap."""
    room = DTI_CAP * monthly_income - monthly_obligations
    return max(0, math.floor(room / MIN_PAYMENT_RATE))


def decide(inputs: dict[str, Any], art: Any) -> Result:
    """Decide on canonical ``inputs`` with the PD model ``art`` (a registry Artifact).

    ``inputs``: ``as_of`` (ISO date), ``mode`` (``api`` or ``csv``), ``history`` (the raw
    model inputs, :data:`RAW_COLUMNS`), and in api mode ``requested_limit``,
    ``monthly_income``, ``monthly_obligations`` (minor units), ``date_of_birth`` (ISO date),
    ``identity_verified`` (bool); in csv mode an optional ``age``. Never reads sex, marital
    status or education, and age only for P01.
    """
    trace: list[dict[str, Any]] = []
    as_of = dt.date.fromisoformat(inputs["as_of"])
    meta = art.meta
    ident = {"model_version": art.version, "model_sha256": art.sha256}
    if inputs["mode"] == "api":
        age = age_on(dt.date.fromisoformat(inputs["date_of_birth"]), as_of)
    else:
        age = inputs.get("age")
    major = age is None or age >= AGE_OF_MAJORITY
    trace.append({"rule": "P01 age_of_majority", "passed": major})
    if not major:
        return Result(DECLINE, None, 0, [_reason("P01")], trace, **ident)
    if inputs["mode"] == "api":
        verified = bool(inputs["identity_verified"])
        trace.append({"rule": "P02 identity_verified", "passed": verified})
        if not verified:
            return Result(REFER, None, 0, [_reason("P02")], trace, **ident)
        income, obligations = inputs["monthly_income"], inputs["monthly_obligations"]
        dti = obligations / income if income > 0 else math.inf
        ok = dti <= DTI_CAP
        trace.append({"rule": "P03 debt_to_income", "passed": ok,
                      "dti": None if math.isinf(dti) else round(dti, 4), "cap": DTI_CAP})
        if not ok:
            return Result(DECLINE, None, 0, [_reason("P03")], trace, **ident)
        hist = inputs["history"]
        has_history = any(float(hist[c]) != -2 for c in PAY_COLUMNS) or any(
            float(hist[c]) != 0 for c in BILL_COLUMNS)
        trace.append({"rule": "P05 credit_history", "passed": has_history})
        if not has_history:
            return Result(REFER, None, 0, [_reason("P05")], trace, **ident)
    history = {c: [float(inputs["history"][c])] for c in RAW_COLUMNS}
    pd_ = float(pd_model.score(art, history)[0])
    a = float(meta["cutoffs"]["approve_below"])
    b = float(meta["cutoffs"]["decline_from"])
    outcome = APPROVE if pd_ < a else REFER if pd_ < b else DECLINE
    trace.append({"rule": "model_band", "pd": round(pd_, 6), "approve_below": a,
                  "decline_from": b, "outcome": outcome})
    reasons = [] if outcome == APPROVE else pd_model.reasons(art, history)[0]
    if inputs["mode"] == "csv":
        return Result(outcome, pd_, csv_limit(pd_, inputs["history"]["LIMIT_BAL"], outcome, a),
                      reasons, trace, **ident)
    if outcome != APPROVE:
        return Result(outcome, pd_, 0, reasons, trace, **ident)
    factor = LOW_RISK_FACTOR if pd_ < a / 2 else STANDARD_RISK_FACTOR
    cap = capacity(inputs["monthly_income"], inputs["monthly_obligations"])
    limit = min(inputs["requested_limit"], math.floor(cap * factor))
    limit = limit // LIMIT_STEP * LIMIT_STEP
    trace.append({"rule": "P04 capacity", "capacity": cap, "risk_factor": factor,
                  "limit": limit, "min_limit": MIN_LIMIT, "passed": limit >= MIN_LIMIT})
    if limit < MIN_LIMIT:
        return Result(DECLINE, pd_, 0, [_reason("P04")], trace, **ident)
    return Result(APPROVE, pd_, limit, [], trace, **ident)


def csv_limit(pd_: float, limit_bal: float, outcome: str, a: float) -> int:
    """The research's limit rule in NT$ for dataset rows (no income field): approve ->
    LIMIT_BAL x 1.2 when PD < a/2 (else x 1.0), capped so PD x LGD(0.8) x limit <= NT$12,000,
    rounded down to NT$10,000 with a NT$10,000 floor; refer -> 50 % of LIMIT_BAL (same
    rounding, an interim line); decline -> 0. UPLIFT, LGD and EL_MAX are stated assumptions."""
    if outcome == DECLINE:
        return 0
    if outcome == REFER:
        return int(max(CSV_STEP, (CSV_REFER_FRACTION * limit_bal) // CSV_STEP * CSV_STEP))
    lim = limit_bal * (CSV_UPLIFT if pd_ < a / 2 else 1.0)
    if pd_ > 0:
        lim = min(lim, CSV_EL_MAX / (pd_ * CSV_LGD))
    return int(max(CSV_STEP, lim // CSV_STEP * CSV_STEP))
