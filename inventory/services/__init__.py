"""Every write to the number inventory; admin, API, import, tasks and commands only call these.

One module per concern (DESIGN §2): results (TransitionResult, the batch), locks (the one
lock order), policies, lifecycle, automatic, attributes, importing, import_jobs. Callers
keep `from inventory.services import number_reserve`: the public names below are
re-exported, loaded on first use (PEP 562), so that `inventory.services.policies` can be
imported by notifications.services without loading the services that write notices
(no import cycle).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "NoNumberAvailable": "results",
    "NumberChange": "results",
    "ServiceError": "results",
    "TransitionResult": "results",
    "system_user": "results",
    "write_numbers": "results",
    "numbers_lock": "locks",
    "subscription_lock": "locks",
    "subscriptions_lock": "locks",
    "Policies": "policies",
    "policy_days": "policies",
    "NUMBER_ATTRS": "lifecycle",
    "number_add": "lifecycle",
    "number_assign": "lifecycle",
    "number_delete": "lifecycle",
    "number_extend": "lifecycle",
    "number_lock": "lifecycle",
    "number_next_available": "lifecycle",
    "number_recover": "lifecycle",
    "number_release": "lifecycle",
    "number_reserve": "lifecycle",
    "number_set_reserved_for": "lifecycle",
    "HELD_STATES": "lifecycle",
    "number_unlock": "lifecycle",
    "numbers_expire_due": "automatic",
    "numbers_hold": "automatic",
    "numbers_holds_end": "automatic",
    "numbers_onboard": "automatic",
    "numbers_unhold": "automatic",
    "numbers_return_from_subscription": "automatic",
    "numbers_swap": "automatic",
    "reservations_follow_subscription": "automatic",
    "EDITABLE_ATTRS": "attributes",
    "number_update_attributes": "attributes",
    "ImportOutcome": "importing",
    "ImportRow": "importing",
    "numbers_import": "importing",
    "import_job_claim": "import_jobs",
    "import_job_confirm": "import_jobs",
    "import_job_fail": "import_jobs",
    "import_job_finish": "import_jobs",
    "import_job_progress": "import_jobs",
    "import_job_start": "import_jobs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from .attributes import (  # noqa: F401
        EDITABLE_ATTRS,
        number_update_attributes,
    )
    from .automatic import (  # noqa: F401
        numbers_expire_due,
        numbers_hold,
        numbers_holds_end,
        numbers_onboard,
        numbers_return_from_subscription,
        numbers_swap,
        numbers_unhold,
        reservations_follow_subscription,
    )
    from .import_jobs import (  # noqa: F401
        import_job_claim,
        import_job_confirm,
        import_job_fail,
        import_job_finish,
        import_job_progress,
        import_job_start,
    )
    from .importing import (  # noqa: F401
        ImportOutcome,
        ImportRow,
        numbers_import,
    )
    from .lifecycle import (  # noqa: F401
        HELD_STATES,
        NUMBER_ATTRS,
        number_add,
        number_assign,
        number_delete,
        number_extend,
        number_lock,
        number_next_available,
        number_recover,
        number_release,
        number_reserve,
        number_set_reserved_for,
        number_unlock,
    )
    from .locks import (  # noqa: F401
        numbers_lock,
        subscription_lock,
        subscriptions_lock,
    )
    from .policies import (  # noqa: F401
        Policies,
        policy_days,
    )
    from .results import (  # noqa: F401
        NoNumberAvailable,
        NumberChange,
        ServiceError,
        TransitionResult,
        system_user,
        write_numbers,
    )
