"""PostgreSQL drops connections (a restart, a fail-over, a pooler restart): the next request
succeeds, and a request whose connection dies mid-transaction changes nothing and answers
with an error page that shows no internals. Real backends are terminated."""

from __future__ import annotations

import wsgiref.util

import psycopg
import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import Client

from inventory.models import PhoneNumber, Reservation

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
CL = "/admin/inventory/phonenumber/"


def terminate_backends(*, only_pid: int | None = None) -> int:
    """From a second connection, kill the test database's backends (all but this one)."""
    s = connection.settings_dict
    with psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"],
                         password=s["PASSWORD"] or None, dbname=s["NAME"], autocommit=True) as admin:
        if only_pid is not None:
            rows = admin.execute("SELECT pg_terminate_backend(%s)", [only_pid]).fetchall()
        else:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
    return sum(1 for (ok,) in rows if ok)


@pytest.fixture
def persistent_connections():
    """Production's persistent connections (CONN_MAX_AGE) with Django's health checks."""
    saved = (connection.settings_dict["CONN_MAX_AGE"], connection.settings_dict["CONN_HEALTH_CHECKS"])
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = 60
    connection.settings_dict["CONN_HEALTH_CHECKS"] = True
    yield
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"], connection.settings_dict["CONN_HEALTH_CHECKS"] = saved


def test_the_production_settings_check_connection_health():
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


def wsgi_get(path: str, *, cookie: str) -> tuple[int, str]:
    """A GET through Django's own WSGI handler, as a server runs it: unlike the test client,
    it sends request_started, where Django checks a persistent connection's health."""
    environ: dict = {"PATH_INFO": path, "HTTP_COOKIE": cookie, "HTTP_HOST": "testserver"}
    wsgiref.util.setup_testing_defaults(environ)
    status: list[str] = []
    body = WSGIHandler()(environ, lambda s, headers, exc_info=None: status.append(s))
    try:
        return int(status[0].split()[0]), b"".join(body).decode()
    finally:
        body.close()  # request_finished: the connection is kept (CONN_MAX_AGE), not closed


def test_after_every_backend_is_terminated_the_next_request_succeeds(
    persistent_connections, ops_user, make_numbers
):
    numbers = make_numbers(2)
    client = Client()
    client.force_login(ops_user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    assert wsgi_get(CL, cookie=cookie)[0] == 200
    before = connection.connection.info.backend_pid  # kept open between requests
    assert terminate_backends() >= 1

    status, page = wsgi_get(CL, cookie=cookie)
    assert status == 200, page[:300]
    assert numbers[0].e164 in page
    assert connection.connection.info.backend_pid != before  # a new connection served it


def test_a_connection_that_dies_mid_transaction_changes_nothing_and_shows_an_error_page(
    ops_user, make_numbers, customer
):
    numbers = make_numbers(3)
    history_before = PhoneNumber.history.count()
    client = Client(raise_request_exception=False)
    client.force_login(ops_user)
    killed: list[int] = []

    def kill_on_reservation_write(execute, sql, params, many, context):
        # The numbers and their history rows are written inside the transaction (one
        # statement); the reservations come next: the connection dies between the two.
        if not killed and sql.startswith('INSERT INTO "inventory_reservation"'):
            killed.append(connection.connection.info.backend_pid)
            terminate_backends(only_pid=killed[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(kill_on_reservation_write):
        response = client.post(CL, {
            "action": "reserve", "index": 0, "select_across": 0, "apply": "1",
            "_selected_action": [n.pk for n in numbers],
            "f-organization": str(customer.uuid), "f-remark": "for Beta",
        })
    assert killed, "the fault was not injected"
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page and "nothing was changed" in page
    for leak in ("Traceback", "OperationalError", "psycopg", "INSERT", "historical", "/work/"):
        assert leak not in page
    connection.close()
    assert set(PhoneNumber.objects.filter(pk__in=[n.pk for n in numbers])
               .values_list("state", flat=True)) == {"available"}
    assert PhoneNumber.history.count() == history_before
    assert not Reservation.objects.filter(number__in=numbers).exists()
