from __future__ import annotations

import pytest


@pytest.fixture
def ops(client, admin_user):
    """The test client, signed in as an ops superuser."""
    client.force_login(admin_user)
    return client
