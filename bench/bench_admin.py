"""Admin list at 1,000,000 numbers: p95 server time of every tab, each filter, each pattern kind.

Server time is the whole Django request (middleware, queries, template) through the test
Client with a logged-in superuser. Nothing is written to the data set except that user,
which is removed again.
"""

from __future__ import annotations

import statistics
import time

from bench.common import report

URL = "/admin/inventory/phonenumber/"
RUNS = 20
WARMUP = 2
TARGET_MS = 300


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(client, params: dict, url: str = URL) -> tuple[float, float]:
    for _ in range(WARMUP):
        client.get(url, params)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        response = client.get(url, params)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (params, response.status_code)
    return p95(times), statistics.median(times)


def cases(data) -> list[tuple[str, dict]]:
    from inventory.choices import NumberState

    # Customer 1 holds reserved and assigned numbers (customer 0 has no assigned ones).
    customer = data["customers"][1]
    subscription = data["subscriptions"][1]
    found: list[tuple[str, dict[str, object]]] = [
        (f"tab {state or 'all'}", {"state": state} if state else {})
        for state in [*NumberState.values, ""]
    ]
    found += [
        ("filter vendor", {"vendor__id__exact": data["vendor"].pk}),
        ("filter sku", {"sku__id__exact": data["sku"].pk}),
        ("filter capability sms (none match)", {"capability": "sms"}),
        ("filter golden", {"is_golden__exact": 1}),
        ("filter ported-in", {"is_ported_in__exact": 1}),
        ("filter country", {"country": "SG"}),
        ("filter routing", {"routing": "trunk-7"}),
        ("filter visible to (partner uuid)", {"visible_to": str(data["partner"].uuid)}),
        ("filter subscription uuid", {"subscription": str(subscription.uuid)}),
        ("filter owner uuid", {"owner": str(customer.uuid)}),
        ("filter reserved_for (none match)", {"reserved_for": "nobody"}),
        ("filter tag", {"tags": "batch-7"}),
        ("pattern prefix +6560512", {"q": "+6560512"}),
        ("pattern glob prefix +656051*", {"q": "+656051*"}),
        ("pattern suffix *4321", {"q": "*4321"}),
        ("pattern contains 054321", {"q": "054321"}),
        ("pattern glob +6560?1*9", {"q": "+6560?1*9"}),
        ("tab reserved + pattern +6560*", {"state": "reserved", "q": "+6560*"}),
    ]
    return found


def run(data) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    try:
        # The bench measures the pages, not the login: 2FA is not asked of its session.
        with override_settings(ALLOWED_HOSTS=["*"], STORAGES=storages, SECURE_SSL_REDIRECT=False,
                               STAFF_2FA_REQUIRED=False, SUPERUSER_2FA_REQUIRED=False):
            client = Client()
            client.force_login(user)
            value, median = measure(client, {}, url="/admin/")
            report("admin ops overview (p95)", value, "ms", f"<= {TARGET_MS} ms",
                   value <= TARGET_MS, f"median {median:.0f} ms, {RUNS} runs")
            for name, params in cases(data):
                value, median = measure(client, params)
                report(f"admin list {name} (p95)", value, "ms", f"<= {TARGET_MS} ms",
                       value <= TARGET_MS, f"median {median:.0f} ms, {RUNS} runs")
    finally:
        user.delete()
