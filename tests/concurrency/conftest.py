"""Concurrency tests fire tens of requests at the live server at the same instant.

Django's test server listens with a backlog of 10 (``WSGIServer.request_queue_size``): a burst
of 30-50 connects overflows the accept queue, and the kernel drops or resets the excess
connections (``ListenOverflows`` in ``nstat``), which shows up as random
``ConnectionResetError``s or 1-3 s SYN retries in the client, never in the application. The
listen backlog is a property of the test harness, not of the code under test, so it is widened
here, at collection time, before the session's live server binds its socket.
"""

from __future__ import annotations

from django.core.servers.basehttp import WSGIServer

LIVE_SERVER_BACKLOG = 256

if WSGIServer.request_queue_size < LIVE_SERVER_BACKLOG:
    WSGIServer.request_queue_size = LIVE_SERVER_BACKLOG
