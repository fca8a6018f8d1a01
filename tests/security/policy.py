"""The expected-outcome table of the access matrix (issue "Zero-trust access", item 4).

One row per API operation ``(METHOD, path as in the OpenAPI schema)``; one column per
principal. ``tests/security/test_access_matrix.py`` calls every operation of the generated
schema as every principal and compares with this table; an operation in the schema without a
row here fails the suite, so a new endpoint cannot ship without a reviewed access decision.

The policy (``accounts/permissions.py``, ``../shared/DESIGN.md`` "Access"):

* a person reaches through the API only what they own; anyone else's object answers 404,
  exactly as a missing one (BOLA); lists answer 200 with the caller's own rows only;
* staff have no owner-bypass in the API (they work in the admin), except operations that
  need a model permission: refunds (``ledger.refund_journalentry``) and reversals
  (``ledger.reverse_journalentry``), held by ``platform_admin``, which reach every entry;
* partner API clients need the view's scope for the method (403 otherwise, and 403 on every
  view that names no scope); with the scope, they reach only card tokens issued for them and
  the accounts, entries and holds of those cards (404 otherwise);
* anonymous callers get 401 everywhere except the public auth endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The principals of the matrix, in the column order of :data:`POLICY`.
ROLES: tuple[str, ...] = (
    "owner",                  # the cardholder owning every object in the path (JWT)
    "other_customer",         # another cardholder with an account and card of their own (JWT)
    "partner_without_scope",  # API key with every scope but the one the operation needs;
                              # the owner's card is issued for it (so only the scope refuses)
    "partner_scoped",         # API key with exactly the operation's scope (every scope where
                              # the operation names none); the owner's card is issued for it
    "partner_foreign",        # same scopes as partner_scoped, but the owner's card is NOT
                              # issued for it (it has a card of another customer)
    "support_agent",          # staff, group support_agent (JWT)
    "platform_admin",         # staff, group platform_admin (JWT; refund/reverse permissions)
    "anonymous",              # no credentials
)


@dataclass(frozen=True)
class Outcome:
    """What one principal gets from one operation.

    ``status``: the exact HTTP status. For a success, ``sees_owner``: True when the answer
    is (or includes) the owner's objects, False when it must not contain any of them (a list
    filtered to the caller's own rows, ``/me/``), None when not checked (public endpoints).
    A refusal must never contain any of the owner's objects.
    """

    status: int
    sees_owner: bool | None = False

    @property
    def allowed(self) -> bool:
        return 200 <= self.status < 300


def OK(status: int = 200) -> Outcome:  # noqa: N802 - reads as a table cell
    """Success on the owner's objects."""
    return Outcome(status, sees_owner=True)


def OWN(status: int = 200) -> Outcome:  # noqa: N802
    """Success, but only the caller's own rows: none of the owner's objects."""
    return Outcome(status, sees_owner=False)


def PUB(status: int = 200) -> Outcome:  # noqa: N802
    """Success of a public endpoint (its body carries the credential)."""
    return Outcome(status, sees_owner=None)


DENY_401 = Outcome(401)  # not authenticated
DENY_403 = Outcome(403)  # authenticated, operation closed to this principal (partner scope)
DENY_404 = Outcome(404)  # not the caller's object: indistinguishable from a missing one

#: The problem+json ``code`` each refusal must carry.
REFUSAL_CODES: dict[int, set[str]] = {
    401: {"not_authenticated", "authentication_failed"},
    403: {"permission_denied"},
    404: {"not_found"},
}


@dataclass(frozen=True)
class Operation:
    expect: dict[str, Outcome]
    #: the partner scope the view requires for this method; None: closed to partners.
    partner_scope: str | None = None
    #: the owner's object (world attribute) a successful owner-visible answer must contain.
    witness: str | None = None
    #: public endpoints (no principal needed).
    public: bool = False
    note: str = ""


def row(*outcomes: Outcome, partner_scope: str | None = None, witness: str | None = None,
        public: bool = False, note: str = "") -> Operation:
    assert len(outcomes) == len(ROLES), f"a row has {len(ROLES)} cells, got {len(outcomes)}"
    return Operation(expect=dict(zip(ROLES, outcomes, strict=True)), partner_scope=partner_scope,
                     witness=witness, public=public, note=note)


# Table cells.
OK2, OK201 = OK(200), OK(201)              # success on the owner's objects
MINE = OWN(200)                            # success, the caller's own rows only
PUB2, PUB204 = PUB(200), PUB(204)          # public endpoint
A, F, N = DENY_401, DENY_403, DENY_404     # refusals

# fmt: off
POLICY: dict[tuple[str, str], Operation] = {
    #       owner  other  p-nosc p-scop p-forn support admin anon   (the columns: ROLES)

    # --- auth: public (the body carries the credential) -------------------------------------
    ("POST", "/api/v1/auth/token/"):
        row(PUB2,  PUB2,  PUB2,  PUB2,  PUB2,  PUB2,  PUB2,  PUB2,   public=True),
    ("POST", "/api/v1/auth/token/refresh/"):
        row(PUB2,  PUB2,  PUB2,  PUB2,  PUB2,  PUB2,  PUB2,  PUB2,   public=True),
    ("POST", "/api/v1/auth/logout/"):
        row(PUB204, PUB204, PUB204, PUB204, PUB204, PUB204, PUB204, PUB204, public=True),
    ("POST", "/api/v1/auth/logout-all/"):  # the caller's own sign-ins only
        row(MINE,  MINE,  F,     F,     F,     MINE,  MINE,  A),

    # --- the caller: people only ----------------------------------------------------------------
    ("GET", "/api/v1/me/"):
        row(OK2,   MINE,  F,     F,     F,     MINE,  MINE,  A,      witness="owner"),

    # --- accounts: people only, owner-scoped ----------------------------------------------------
    ("GET", "/api/v1/accounts/"):
        row(OK2,   MINE,  F,     F,     F,     MINE,  MINE,  A,      witness="account"),
    ("GET", "/api/v1/accounts/{account_id}/"):
        row(OK2,   N,     F,     F,     F,     N,     N,     A,      witness="account"),
    ("GET", "/api/v1/accounts/{account_id}/transactions/"):
        row(OK2,   N,     F,     F,     F,     N,     N,     A,      witness="entry"),
    ("GET", "/api/v1/accounts/{account_id}/statement/"):
        row(OK2,   N,     F,     F,     F,     N,     N,     A,      witness="entry"),
    ("POST", "/api/v1/accounts/{account_id}/payments/"):
        row(OK201, N,     F,     F,     F,     N,     N,     A),
    ("GET", "/api/v1/accounts/{account_id}/statements/"):
        row(OK2,   N,     F,     F,     F,     N,     N,     A,      witness="statement"),
    ("GET", "/api/v1/accounts/{account_id}/minimum-payment/"):
        row(OK2,   N,     F,     F,     F,     N,     N,     A,      witness="statement"),
    ("GET", "/api/v1/statements/{statement_id}/"):
        row(OK2,   N,     F,     F,     F,     N,     N,     A,      witness="statement"),

    # --- money in, also through partners: charges and authorizations ---------------------------
    ("POST", "/api/v1/accounts/{account_id}/charges/"):
        row(OK201, N,     F,     OK201, N,     N,     N,     A,      partner_scope="charges:write"),
    ("POST", "/api/v1/accounts/{account_id}/authorizations/"):
        row(OK201, N,     F,     OK201, N,     N,     N,     A,
            partner_scope="authorizations:write"),
    ("GET", "/api/v1/authorizations/{hold_id}/"):
        row(OK2,   N,     F,     OK2,   N,     N,     N,     A,
            partner_scope="authorizations:write", witness="hold"),
    ("POST", "/api/v1/authorizations/{hold_id}/capture/"):
        row(OK201, N,     F,     OK201, N,     N,     N,     A,
            partner_scope="authorizations:write"),
    ("POST", "/api/v1/authorizations/{hold_id}/void/"):
        row(OK2,   N,     F,     OK2,   N,     N,     N,     A,
            partner_scope="authorizations:write"),

    # --- the card vault -------------------------------------------------------------------------
    ("GET", "/api/v1/cards/"):
        row(OK2,   MINE,  F,     OK2,   MINE,  MINE,  MINE,  A,
            partner_scope="cards:read", witness="card"),
    ("POST", "/api/v1/cards/"):
        row(OK201, N,     F,     F,     F,     N,     N,     A,
            note="the body names the owner's account; no partner scope opens POST (the "
                 "cards:write scope exists but no view maps it)"),
    ("GET", "/api/v1/cards/{card_id}/"):
        row(OK2,   N,     F,     OK2,   N,     N,     N,     A,
            partner_scope="cards:read", witness="card"),

    # --- corrections: by model permission, not ownership ----------------------------------------
    ("POST", "/api/v1/transactions/{entry_id}/refunds/"):
        row(N,     N,     F,     OK201, N,     N,     OK201, A,
            partner_scope="refunds:write",
            note="cardholders cannot refund their own charges (no ledger.refund_journalentry: "
                 "404); platform_admin reaches every entry; partners their cards' entries"),
    ("POST", "/api/v1/transactions/{entry_id}/reversals/"):
        row(N,     N,     F,     F,     F,     N,     OK201, A,
            note="ledger.reverse_journalentry only (platform_admin); closed to partners"),

    # --- partner webhooks (scope webhooks:manage; a partner's own endpoints only) --------------
    ("GET", "/api/v1/webhooks/endpoints/"):
        row(F,     F,     F,     OK2,   MINE,  F,     F,     A,
            partner_scope="webhooks:manage",
            note="people: 403 (partner API keys only); partner_foreign lists only its own"),
    ("POST", "/api/v1/webhooks/endpoints/"):
        row(F,     F,     F,     OK201, OWN(201), F,  F,     A,
            partner_scope="webhooks:manage"),
    ("GET", "/api/v1/webhooks/endpoints/{endpoint_id}/"):
        row(F,     F,     F,     OK2,   N,     F,     F,     A,
            partner_scope="webhooks:manage", note="another partner's endpoint is 404"),
    ("DELETE", "/api/v1/webhooks/endpoints/{endpoint_id}/"):
        row(F,     F,     F,     OK(204), N,   F,     F,     A,
            partner_scope="webhooks:manage"),
    ("POST", "/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret/"):
        row(F,     F,     F,     OK2,   N,     F,     F,     A,
            partner_scope="webhooks:manage"),

    # --- credit applications (issue 10): a person applies for themselves; own rows only ------
    ("GET", "/api/v1/credit-applications/"):
        row(OK2,   MINE,  F,     F,     F,     MINE,  MINE,  A),
    ("POST", "/api/v1/credit-applications/"):
        row(OK201, OWN(201), F,  F,     F,     OWN(201), OWN(201), A,
            note="every person applies only for themselves (the applicant is the caller)"),
    ("GET", "/api/v1/credit-applications/{application_id}/"):
        row(OK2,   N,     F,     F,     F,     N,     N,     A,
            note="the owner's application; anyone else's is 404"),
}
# fmt: on

#: Known access-control bugs: ``(method, path, role) -> "BUG: ..."``. The matrix marks these
#: cases ``xfail(strict=True)``: the suite stays green while the bug is open, and turns red
#: the moment it is fixed (then delete the line).
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}

#: Routes outside the schema that are public on purpose (API docs). Every other route under
#: ``api/`` must be an operation of the schema (and so of this table).
PUBLIC_UNDOCUMENTED_ROUTES: frozenset[str] = frozenset({
    "/api/schema/", "/api/docs/", "/api/redoc/",
})
