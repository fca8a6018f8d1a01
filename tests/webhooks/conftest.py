"""Fixtures of the webhook tests: a partner with a card issued for it, and a real HTTP
receiver on loopback (a thread running ``http.server``) that records what it gets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from accounts import api_clients
from accounts.models import ApiClient, Card
from tests.factories import ACTOR, CustomerFactory, add_card


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """``url`` to subscribe; ``requests`` received; ``statuses`` answered in turn (then 200);
    ``redirect_to`` makes every answer a 302 to it."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    redirect_to: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            if state.redirect_to:
                self.send_response(302)
                self.send_header("Location", state.redirect_to)
            else:
                self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/creditplatform"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Partner:
    client: ApiClient
    key: str
    holder: Any
    account: Any
    card: Card


@pytest.fixture
def partner() -> Partner:
    """A partner with charges, refunds and webhooks scopes, and a cardholder's card issued
    for it."""
    client = api_clients.api_client_create(
        actor=ACTOR, name="hooks-partner",
        scopes=["charges:write", "refunds:write", "webhooks:manage"])
    _, key = api_clients.api_key_issue(actor=ACTOR, client=client)
    holder = CustomerFactory()
    card = add_card(holder)
    Card.objects.filter(pk=card.pk).update(issued_for=client)
    card.refresh_from_db()
    return Partner(client=client, key=key, holder=holder,
                   account=holder.credit_accounts.get(), card=card)


@pytest.fixture
def partner_api(partner: Partner) -> Any:
    from rest_framework.test import APIClient

    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"ApiKey {partner.key}")
    return http
