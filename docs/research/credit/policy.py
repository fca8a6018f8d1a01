"""Credit-decision and credit-limit policy idea (research sketch, not a product rule).

Decision bands on the model PD (cut-offs a < b chosen on validation data by
train.py and stored in model.json):
    PD <  a        -> APPROVE
    a <= PD < b    -> REFER   (manual review)
    PD >= b        -> DECLINE (adverse-action notice with reasons.py codes)

Limit = f(income proxy, PD).  The data have no income field; the only proxy is
the limit the bank already granted (LIMIT_BAL, which reflects its own income /
capacity assessment).  The idea:
    approve:  limit = LIMIT_BAL * m(PD), m = UPLIFT if PD < a/2 else 1.0,
              then capped so expected loss PD * LGD * limit <= EL_MAX
    refer:    interim limit = REFER_FRACTION * LIMIT_BAL until reviewed
    decline:  0
Limits are rounded down to NT$10,000 steps with a NT$10,000 floor for approvals
(the smallest limit in the data).  UPLIFT, LGD and EL_MAX are stated
assumptions, not estimated from these data.
"""
from __future__ import annotations

UPLIFT = 1.2          # 20 % limit increase for the clearly low-risk half of approvals
LGD = 0.8             # assumed loss given default for unsecured card debt
EL_MAX = 12_000.0     # assumed maximum expected loss per account, NT$
REFER_FRACTION = 0.5
STEP = 10_000


def decide(pd_: float, a: float, b: float) -> str:
    if pd_ < a:
        return "APPROVE"
    if pd_ < b:
        return "REFER"
    return "DECLINE"


def credit_limit(pd_: float, limit_bal: float, a: float, b: float) -> float:
    d = decide(pd_, a, b)
    if d == "DECLINE":
        return 0.0
    if d == "REFER":
        return max(STEP, (REFER_FRACTION * limit_bal) // STEP * STEP)
    m = UPLIFT if pd_ < a / 2 else 1.0
    lim = limit_bal * m
    if pd_ > 0:
        lim = min(lim, EL_MAX / (pd_ * LGD))
    return max(STEP, lim // STEP * STEP)
