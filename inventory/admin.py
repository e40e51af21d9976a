"""The ops admin of the inventory: thin adapters over inventory.services.

Numbers: one change list with a tab per state (`?state=reserved`), each tab with its own
columns and only the actions that can start from that state; every action asks for its
fields on an intermediate form and calls a service. Big-table rules (DESIGN §5): an
estimated-count paginator, no full COUNT(*), no facets, number search through pattern_q,
text-box filters for high-cardinality keys.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator, capfirst
from simple_history.admin import SimpleHistoryAdmin

from audit.admin import HistoryAdmin

from .admin_import import NumberImportExportMixin
from .admin_views import (
    CapabilityFilter,
    CountryFilter,
    EstimatedCountPaginator,
    NumberChangeList,
    OwnerFilter,
    ReservedForFilter,
    RoutingFilter,
    StateTabFilter,
    SubscriptionFilter,
    TagFilter,
    VisibleToFilter,
    add_numbers_view,
    day,
    moment,
    number_swap_out,
    pattern_search,
    run_action,
    state_counts_fast,
)
from .choices import (
    ACTION_PERMISSIONS,
    CAPABILITIES,
    MASS_EDIT_PERMISSION,
    Action,
    NumberState,
    actions_from,
)
from .forms import (
    AssignForm,
    DeleteForm,
    ExtendForm,
    MassEditForm,
    PhoneNumberChangeForm,
    RemarkForm,
    ReservedForForm,
    ReserveForm,
    SwapForm,
    picker,
)
from .models import ImportJob, LifecyclePolicy, PhoneNumber, Reservation, Sku, Vendor
from .selectors import vendor_state_counts
from .services import (
    number_assign,
    number_delete,
    number_extend,
    number_lock,
    number_recover,
    number_release,
    number_reserve,
    number_set_reserved_for,
    number_unlock,
    number_update_attributes,
)

S = NumberState
A = Action

admin.site.site_header = "numbermgmt"
admin.site.site_title = "numbermgmt"
admin.site.index_title = "Overview"
admin.site.site_url = None  # there is no public site: "View site" led to a 404


def _perm(action: str) -> str:
    """The codename an admin action needs: the one table, inventory.choices.ACTION_PERMISSIONS."""
    return ACTION_PERMISSIONS[action][0]

# The tabs, in the order ops work through them; "" is All.
TABS = [S.AVAILABLE, S.RESERVED, S.ASSIGNED, S.HOLD, S.LOCKED, S.COOLING, S.DELETED, ""]

# Life-cycle action (inventory.choices.Action) → admin action name.
ADMIN_ACTIONS: dict[str, str] = {
    Action.RESERVE: "reserve",
    Action.ASSIGN: "assign",
    Action.EXTEND: "extend",
    Action.RELEASE: "release",
    Action.LOCK: "lock",
    Action.UNLOCK: "unlock",
    Action.DELETE: "delete_numbers",
    Action.RECOVER: "recover",
    Action.SET_RESERVED_FOR: "set_reserved_for",
    Action.SWAP_OUT: "swap",
}
ACTION_LABELS = {"reserve": "Reserve…", "assign": "Assign…", "extend": "Extend…", "release": "Release…",
                 "lock": "Lock…", "unlock": "Unlock…", "delete_numbers": "Delete…",
                 "recover": "Recover…", "swap": "Swap out…",
                 "set_reserved_for": "Set / clear reserved for…"}
DESTRUCTIVE = {"release", "unlock", "delete_numbers"}
# Page actions that are not life-cycle moves of the table: the states they apply in.
PAGE_EXTRA_ACTIONS: dict[str, set[str]] = {}
HISTORY_SKIP = {"id", "created_at", "updated_at", "state_changed_at"}  # the row's date says when
ALWAYS = {"mass_edit"}  # valid in every state: it never touches the state

BASE_COLUMNS = ("e164", "vendor", "sku_col")
TAB_COLUMNS: dict[str, tuple[str, ...]] = {
    S.AVAILABLE: (*BASE_COLUMNS, "country", "capabilities", "golden", "ported_in", "visible_to_col",
                  "routing", "tags_col"),
    S.RESERVED: (*BASE_COLUMNS, "organization_col", "reserved_for", "reservation_kind", "ends",
                 "days_left"),
    S.ASSIGNED: (*BASE_COLUMNS, "subscription_col", "organization_col", "reserved_for"),
    S.HOLD: (*BASE_COLUMNS, "subscription_col", "organization_col", "ends", "days_left",
             "after_hold_state"),
    S.LOCKED: (*BASE_COLUMNS, "lock_ends", "days_left", "reservation_remark"),
    S.COOLING: (*BASE_COLUMNS, "ends", "days_left", "after_cooling_state"),
    S.DELETED: (*BASE_COLUMNS, "delete_reason", "state_changed_col"),
    "": (*BASE_COLUMNS, "reseller_col", "country", "capabilities", "state", "organization_col", "ends",
         "golden", "tags_col", "notes_col"),
}


def moment_column(field: str, description: str):
    """A date-time column in the admin's one format (moment: 29 Dec 2026 14:05, local zone)."""

    @admin.display(description=description, ordering=field)
    def column(self, obj):
        return moment(getattr(obj, field))

    return column


class SkuFilter(admin.RelatedFieldListFilter):
    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = "SKU"


class ReservationInline(admin.TabularInline):
    """A number's reservations and locks, newest first, read-only: the tenancy record."""

    model = Reservation
    fk_name = "number"
    extra = 0
    can_delete = False
    show_change_link = False
    fields = ("kind", "status", "reserver_name", "reserved_for", "starts_col", "ends_col", "closed_col",
              "did_reservation", "remark", "created_by")
    readonly_fields = fields
    starts_col = moment_column("starts_at", "starts")
    ends_col = moment_column("ends_at", "ends")
    closed_col = moment_column("closed_at", "closed")
    ordering = ("-starts_at", "-id")
    verbose_name_plural = "reservations and locks"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("did_reservation__organization",
                                                             "created_by")


def _history_value(record, field) -> str:
    if field.is_relation:
        try:
            related = getattr(record, field.name)
        except field.related_model.DoesNotExist:
            return f"#{getattr(record, field.attname)} (deleted)"
        return str(related) if related is not None else "—"
    value = getattr(record, field.attname)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value)) if value else "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return moment(value)
    if field.name == "tags":
        return ", ".join(t for t in (value or "").split(";") if t) or "—"
    return str(value) if value not in (None, "") else "—"


def history_changes(record, previous) -> list[dict[str, str]]:
    """Which fields a history row changed, from what to what (for people)."""
    changes = []
    for field in record.tracked_fields:
        if field.name in HISTORY_SKIP:
            continue
        if getattr(record, field.attname) != getattr(previous, field.attname):
            changes.append({"field": capfirst(field.verbose_name),
                            "old": _history_value(previous, field),
                            "new": _history_value(record, field)})
    return changes


@admin.register(PhoneNumber)
class PhoneNumberAdmin(NumberImportExportMixin, SimpleHistoryAdmin):
    change_list_template = "admin/inventory/phonenumber/change_list.html"
    change_form_template = "admin/inventory/phonenumber/change_form.html"
    object_history_list_template = "admin/inventory/phonenumber/object_history_list.html"
    form = PhoneNumberChangeForm
    inlines = [ReservationInline]
    list_per_page = 100
    list_max_show_all = 500
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    list_select_related = ("vendor__reseller", "sku", "organization", "subscription", "visible_to")
    sortable_by = ("e164", "ends", "lock_ends")
    ordering = ("e164",)
    search_fields = ("e164",)  # shows the box; the search itself is pattern_q (get_search_results)
    search_help_text = "Number pattern: +65* or *1234 (wildcards * ?) · +65 (prefix) · 65 (contains)"
    list_filter = (StateTabFilter, "vendor", ("sku", SkuFilter), CapabilityFilter, "is_golden",
                   "is_ported_in",
                   CountryFilter, RoutingFilter, VisibleToFilter, SubscriptionFilter, OwnerFilter,
                   ReservedForFilter, TagFilter)
    actions = ["reserve", "assign", "extend", "release", "lock", "unlock", "delete_numbers",
               "recover", "swap", "set_reserved_for", "mass_edit"]
    readonly_fields = ("e164", "country", "state", "state_changed_col", "expires_col", "organization",
                       "subscription", "reserved_for", "delete_reason", "after_cooling_state",
                       "created_col", "updated_col")
    autocomplete_fields = ("visible_to",)
    history_list_per_page = 50

    # --- the list -----------------------------------------------------------------------

    def get_changelist(self, request, **kwargs):
        return NumberChangeList

    def tab(self, request) -> str:
        state = request.GET.get("state", "")
        return state if state in S.values else ""

    def get_ordering(self, request):
        """By number; on a state tab by (state, number), the same order (one state), which
        number_state_e164 serves (see StateTabFilter)."""
        return ("state", "e164") if self.tab(request) else ("e164",)

    def get_list_display(self, request):
        return TAB_COLUMNS[self.tab(request)]

    def get_search_results(self, request, queryset, search_term):
        return pattern_search(request, queryset, search_term), False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        state = self.tab(request)
        if state:
            valid = {ADMIN_ACTIONS[a] for a in actions_from(state) if a in ADMIN_ACTIONS} | ALWAYS
            actions = {name: spec for name, spec in actions.items() if name in valid}
        return actions

    def lookup_allowed(self, lookup, value, request=None):
        """A regex typed into the address is no search this list offers (an invalid one is a
        database error, a valid one a full scan): refused, like any lookup it does not offer."""
        if lookup.rsplit("__", 1)[-1] in {"regex", "iregex"}:
            return False
        return super().lookup_allowed(lookup, value, request)

    def changelist_view(self, request, extra_context=None):
        if any("\x00" in key + value for key, value in request.GET.items()):
            return self._filters_ignored(request, "a NUL character")
        try:
            return self._changelist_view(request, extra_context)
        except DisallowedModelAdminLookup:
            return self._filters_ignored(request, "a filter this list does not offer")

    def _filters_ignored(self, request, what: str):
        self.message_user(request, f"The address asked for {what}: its filters were ignored.",
                          messages.WARNING)
        return HttpResponseRedirect(request.path)

    def _changelist_view(self, request, extra_context=None):
        current = self.tab(request)
        params = request.GET.copy()
        for key in ("state", "p", "e", "all"):
            params.pop(key, None)
        # Counts on the tabs only for the whole inventory: with a search or filter on, a
        # count per state would cost one estimate each and mislead when it is rough.
        counted = not [k for k in params if k not in ("o", "q")] and not params.get("q")
        tabs = []
        counts = state_counts_fast() if counted else {}
        for state in TABS:
            query = params.copy()
            if state:
                query["state"] = state
            encoded = query.urlencode()
            tab = {"state": state or "all", "label": S(state).label if state else "All",
                   "url": f"?{encoded}" if encoded else "?", "active": state == current}
            if counted:
                count, tab["estimated"] = counts[state]
                tab["count"] = f"{count:,}"
            tabs.append(tab)
        extra_context = {**(extra_context or {}), "state_tabs": tabs,
                         "media": self.media + picker(PhoneNumber, "organization").media}
        return super().changelist_view(request, extra_context)

    # --- columns ------------------------------------------------------------------------

    def action_checkbox(self, obj):
        """Django's checkbox, written directly: rendering a widget per row costs ~1 ms."""
        return format_html('<input type="checkbox" name="{}" value="{}" class="action-select" '
                           'aria-label="Select this object for an action - {}">',
                           ACTION_CHECKBOX_NAME, obj.pk, obj.e164)

    @admin.display(description="capabilities")
    def capabilities(self, obj):
        return ", ".join(c for c in CAPABILITIES if getattr(obj, c)) or "—"

    @admin.display(description="golden", boolean=True)
    def golden(self, obj):
        return obj.is_golden

    @admin.display(description="ported in", boolean=True)
    def ported_in(self, obj):
        return obj.is_ported_in

    @admin.display(description="visible to")
    def visible_to_col(self, obj):
        return obj.visible_to.name if obj.visible_to else "—"

    @admin.display(description="tags")
    def tags_col(self, obj):
        return ", ".join(obj.tag_list) or "—"

    @admin.display(description="reseller")
    def reseller_col(self, obj):
        return obj.vendor.reseller.name if obj.vendor.reseller_id else "—"

    @admin.display(description="notes")
    def notes_col(self, obj):
        return Truncator(obj.notes).chars(80) or "—"

    @admin.display(description="organization")
    def organization_col(self, obj):
        if not obj.organization_id:
            return "—"
        url = reverse("admin:subscriptions_organization_change", args=[obj.organization_id])
        return format_html('<a href="{}">{}</a>', url, obj.organization.name)

    @admin.display(description="subscription")
    def subscription_col(self, obj):
        if not obj.subscription_id:
            return "—"
        url = reverse("admin:subscriptions_subscription_change", args=[obj.subscription_id])
        sub = obj.subscription
        return format_html('<a href="{}">{}</a> <span class="quiet">{}</span>', url,
                           sub.plan or sub.get_kind_display(), sub.uuid)

    @admin.display(description="kind")
    def reservation_kind(self, obj):
        reservation = getattr(obj, "active_reservation", None)
        return reservation.get_kind_display() if reservation else "—"

    @admin.display(description="remark")
    def reservation_remark(self, obj):
        reservation = getattr(obj, "active_reservation", None)
        return reservation.remark if reservation else "—"

    @admin.display(description="SKU", ordering="sku__code")
    def sku_col(self, obj):
        return obj.sku.code

    @admin.display(description="ends", ordering="expires_at")
    def ends(self, obj):
        return day(obj.expires_at)

    @admin.display(description="ends", ordering="expires_at")
    def lock_ends(self, obj):
        return day(obj.expires_at) if obj.expires_at else "permanent"

    state_changed_col = moment_column("state_changed_at", "state changed")
    expires_col = moment_column("expires_at", "expires")
    created_col = moment_column("created_at", "created")
    updated_col = moment_column("updated_at", "updated")

    @admin.display(description="days left")
    def days_left(self, obj):
        if obj.expires_at is None:
            return "—"
        return max(0, (obj.expires_at - timezone.now()).days)

    # --- permissions --------------------------------------------------------------------

    def has_delete_permission(self, request, obj=None):
        return False  # numbers leave through the life cycle (the Deleted tab), never as rows

    # --- actions ------------------------------------------------------------------------

    @admin.action(description="Reserve selected numbers…", permissions=[_perm(A.RESERVE)])
    def reserve(self, request, queryset):
        return run_action(self, request, queryset, title="Reserve numbers", verb="Reserve",
                          form_class=ReserveForm, service=number_reserve,
                          help_text="Available numbers become reserved for the organization "
                                    "for the policy's period.")

    @admin.action(description="Assign selected numbers to a subscription…",
                  permissions=[_perm(A.ASSIGN)])
    def assign(self, request, queryset):
        return run_action(self, request, queryset, title="Assign numbers", verb="Assign",
                          form_class=AssignForm, service=number_assign,
                          help_text="Available or reserved numbers go to an active service "
                                    "subscription.")

    @admin.action(description="Extend reservations (DID reservation)…", permissions=[_perm(A.EXTEND)])
    def extend(self, request, queryset):
        return run_action(self, request, queryset, title="Extend reservations", verb="Extend",
                          form_class=ExtendForm, service=number_extend,
                          help_text="The reservation becomes charged and lasts as long as the DID "
                                    "reservation subscription.")

    @admin.action(description="Release selected numbers…", permissions=[_perm(A.RELEASE)])
    def release(self, request, queryset):
        return run_action(self, request, queryset, title="Release numbers", verb="Release",
                          form_class=RemarkForm, service=number_release, destructive=True,
                          help_text="The reservations end now; the numbers become available (or "
                                    "cooling when the policy says so).")

    @admin.action(description="Lock selected numbers…", permissions=[_perm(A.LOCK)])
    def lock(self, request, queryset):
        return run_action(self, request, queryset, title="Lock numbers", verb="Lock",
                          form_class=RemarkForm, service=number_lock,
                          help_text="Available numbers are locked for the policy's period.")

    @admin.action(description="Unlock selected numbers…", permissions=[_perm(A.UNLOCK)])
    def unlock(self, request, queryset):
        return run_action(self, request, queryset, title="Unlock numbers", verb="Unlock",
                          form_class=RemarkForm, service=number_unlock, destructive=True,
                          help_text="The locks end now; the numbers become available.")

    @admin.action(description="Delete selected numbers (life cycle)…", permissions=[_perm(A.DELETE)])
    def delete_numbers(self, request, queryset):
        return run_action(self, request, queryset, title="Delete numbers", verb="Delete",
                          form_class=DeleteForm, service=number_delete, destructive=True,
                          help_text="Available or locked numbers move to the Deleted tab; they "
                                    "can be recovered.")

    @admin.action(description="Recover deleted numbers…", permissions=[_perm(A.RECOVER)])
    def recover(self, request, queryset):
        return run_action(self, request, queryset, title="Recover numbers", verb="Recover",
                          form_class=RemarkForm, service=number_recover,
                          help_text="Deleted numbers become available again.")

    @admin.action(description="Swap out an assigned number (replacement)…",
                  permissions=[_perm(A.ASSIGN)])
    def swap(self, request, queryset):
        return run_action(self, request, queryset, title="Swap out a number", verb="Swap",
                          form_class=SwapForm, service=number_swap_out,
                          help_text="The replacement is assigned to the same subscription; the old "
                                    "number stays reserved for the organization (1 day; ported-in "
                                    "28 days).")

    @admin.action(description="Set or clear reserved-for…", permissions=[_perm(A.SET_RESERVED_FOR)])
    def set_reserved_for(self, request, queryset):
        return run_action(self, request, queryset, title="Reserved for", verb="Set reserved for",
                          form_class=ReservedForForm, service=number_set_reserved_for,
                          help_text="While set, only a subscription of that subscriber may take the "
                                    "number; it stays through every state change until cleared.")

    @admin.action(description="Mass edit attributes…", permissions=[MASS_EDIT_PERMISSION[0]])
    def mass_edit(self, request, queryset):
        return run_action(self, request, queryset, title="Mass edit numbers", verb="Mass edit",
                          form_class=MassEditForm, service=number_update_attributes,
                          help_text="Only what you fill in (or tick to clear) changes; never the "
                                    "state. Each changed number gets one history entry.")

    # --- add, change, history -----------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        return add_numbers_view(self, request)

    def get_fieldsets(self, request, obj=None):
        details = ["tags", "notes"]
        if self.has_change_permission(request, obj):
            details.append("remark")
        return [
            ("Number", {"fields": ["e164", "country", "state", "state_changed_col", "expires_col"]}),
            ("Holder", {"fields": ["organization", "subscription", "reserved_for", "delete_reason",
                                   "after_cooling_state"]}),
            ("Catalogue", {"fields": ["vendor", "sku", "voice", "sms", "fax", "routing",
                                      "is_golden", "is_ported_in", "visible_to"]}),
            ("Hold", {"fields": ["after_hold_state", "hold_days"]}),
            ("Tags and notes", {"fields": details}),
            ("Record", {"fields": ["created_col", "updated_col"], "classes": ["collapse"]}),
        ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and hasattr(field.widget, "can_delete_related"):
            field.widget.can_delete_related = False  # a vendor or SKU is not deleted from here
        return field

    def save_model(self, request, obj, form, change):
        """Through the service (one history row with the remark), never obj.save()."""
        changes = form.attribute_changes()
        if changes:
            number_update_attributes(numbers=[obj.pk], changes=changes, actor=request.user,
                                     remark=form.cleaned_data["remark"])

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra_context["recent_history"] = self.recent_history(request, obj)
            extra_context["number_actions"] = self.page_actions(request, obj)
            extra_context["changelist_url"] = reverse("admin:inventory_phonenumber_changelist")
        return super().change_view(request, object_id, form_url, extra_context)

    def page_actions(self, request, obj) -> list[dict[str, object]]:
        """The bulk actions valid for this number's state that the user may run: each
        button posts this one number to the same action as the list does."""
        offered = self.get_actions(request)
        valid = [ADMIN_ACTIONS[a] for a in actions_from(obj.state) if a in ADMIN_ACTIONS]
        valid += [name for name in PAGE_EXTRA_ACTIONS if obj.state in PAGE_EXTRA_ACTIONS[name]]
        return [{"name": name, "label": ACTION_LABELS.get(name, name),
                 "destructive": name in DESTRUCTIVE}
                for name in valid if name in offered]

    def recent_history(self, request, obj, limit: int = 20):
        records = list(self.get_history_queryset(request, PhoneNumber.history, "id", obj.pk)[: limit + 1])
        self.set_history_delta_changes(request, records)
        return records[:limit]

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        """Each row's changes against the row before it, the state and holder included.

        simple-history's diff_against covers only editable fields, and here the
        non-editable life-cycle fields (state, organization, expires_at …) matter most,
        so the rows are compared field by field. The oldest row of a page is compared
        with the row before it, on the next page.
        """
        records = list(historical_records)
        if not records:
            return
        older = records[1:] + [records[-1].prev_record if records[-1].history_type != "+" else None]
        for record, previous in zip(records, older, strict=True):
            if previous is not None:
                record.history_delta_changes = history_changes(record, previous)

    def revert_disabled(self, request, obj=None):
        return True  # a revert would write fields (even the state) around the services

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied("History is read-only.")
        return super().history_form_view(request, object_id, version_id, extra_context)


# --- catalogue ----------------------------------------------------------------------------


def _permission_check(codename: str):
    def has_permission(self, request) -> bool:
        return request.user.has_perm(f"inventory.{codename}")

    has_permission.__name__ = f"has_{codename}_permission"
    return has_permission


# Django asks `has_<codename>_permission` for an action's `permissions=[…]`: one method per
# row of the one table (inventory.choices), not one written out per action.
for _codename, _ in [*ACTION_PERMISSIONS.values(), MASS_EDIT_PERMISSION]:
    setattr(PhoneNumberAdmin, f"has_{_codename}_permission", _permission_check(_codename))


class VendorChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        rows = list(self.result_list)
        counts = vendor_state_counts([v.pk for v in rows])
        for vendor in rows:
            vendor.state_counts = counts.get(vendor.pk, {})
        self.result_list = rows


def _vendor_state_column(state: str):
    @admin.display(description=S(state).label.lower())
    def column(self, obj):
        n = getattr(obj, "state_counts", {}).get(state, 0)
        url = reverse("admin:inventory_phonenumber_changelist")
        return format_html('<a href="{}?vendor__id__exact={}&amp;state={}">{}</a>', url, obj.pk, state,
                           f"{n:,}")

    return column


@admin.register(Vendor)
class VendorAdmin(HistoryAdmin):
    """Each vendor's numbers per state, from one aggregate query per page."""

    list_display = ("name", "reseller", "total", *[f"count_{s}" for s in S.values])
    list_filter = (("reseller", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("name",)
    autocomplete_fields = ("reseller",)

    def get_changelist(self, request, **kwargs):
        return VendorChangeList

    @admin.display(description="numbers")
    def total(self, obj):
        n = sum(getattr(obj, "state_counts", {}).values())
        url = reverse("admin:inventory_phonenumber_changelist")
        return format_html('<a href="{}?vendor__id__exact={}">{}</a>', url, obj.pk, f"{n:,}")


for _state in S.values:
    setattr(VendorAdmin, f"count_{_state}", _vendor_state_column(_state))


@admin.register(Sku)
class SkuAdmin(HistoryAdmin):
    list_display = ("code", "name", "voice", "sms", "fax")
    search_fields = ("code", "name")


@admin.register(LifecyclePolicy)
class LifecyclePolicyAdmin(HistoryAdmin):
    """The periods. The most specific matching row wins (cause, then country, SKU, ported-in)."""

    ask_change_reason = True

    list_display = ("cause", "country", "sku", "is_ported_in", "period_days")
    list_editable = ("period_days",)
    list_filter = ("cause",)


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Read-only: jobs are created by the import page and run by the worker."""

    list_display = ("original_name", "status", "progress", "new_col", "changed_col",
                    "unchanged_col", "refused_col", "created_by", "created_col", "finished_col")
    view_on_site = False  # a job has no public page
    list_filter = ("status",)
    list_select_related = ("created_by",)
    search_fields = ("original_name",)

    fields = ("job_page", "original_name", "status", "progress", "new_col", "changed_col",
              "unchanged_col", "refused_col", "message", "created_by", "created_col", "finished_col")
    readonly_fields = fields

    @admin.display(description="progress")
    def progress(self, obj):
        return f"{obj.progress_percent} %"

    @admin.display(description="file")
    def job_page(self, obj):
        """The uploaded file is private (no media URL serves it): link the job's own page,
        which shows its preview, result and error report."""
        url = reverse("admin:inventory_phonenumber_import_job", args=[obj.uuid])
        return format_html('<a href="{}">{}</a> — the import page of this job', url, obj.original_name)

    # The words of the import page (New / Changed / Refused), not the field names.
    @admin.display(description="new", ordering="created_count")
    def new_col(self, obj):
        return obj.created_count

    @admin.display(description="changed", ordering="updated_count")
    def changed_col(self, obj):
        return obj.updated_count

    @admin.display(description="unchanged", ordering="unchanged_count")
    def unchanged_col(self, obj):
        return obj.unchanged_count

    @admin.display(description="refused", ordering="rejected_count")
    def refused_col(self, obj):
        return obj.rejected_count

    created_col = moment_column("created_at", "started")
    finished_col = moment_column("finished_at", "finished")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

