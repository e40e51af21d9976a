"""Organizations and subscriptions. A subscription's status, period end and numbers change only
through subscriptions.services, exactly as from the admin."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from inventory.models import PhoneNumber
from subscriptions import services as subscription_services
from subscriptions.services import subscription_renew, subscription_set_status, subscription_swap_number

from .. import examples as ex
from .. import serializers as s
from ..idempotency import idempotent
from ..scope import numbers_for, organizations_for, subscriptions_for
from .common import ApiView, BoundedCursorPagination, e164s, paginated

ORG, SUB = ex.ORG, ex.SUB


class ByCreated(BoundedCursorPagination):
    ordering = "-created_at"


class OrganizationList(ApiView):
    permissions = {"GET": "subscriptions.view_organization", "POST": "subscriptions.add_organization"}
    pagination_class = ByCreated

    @extend_schema(operation_id="organizations_list", tags=["organizations"],
                   responses=s.OrganizationOut(many=True),
                   examples=[ex.response("page", ex.ORGANIZATION)])
    def get(self, request):
        return paginated(self, request, organizations_for(request).select_related("parent"),
                     s.OrganizationOut)

    @extend_schema(operation_id="organizations_create", tags=["organizations"],
                   request=s.OrganizationIn, responses={201: s.OrganizationOut},
                   examples=[OpenApiExample("customer", request_only=True, value={
                       "name": "Beta Pte Ltd", "kind": "customer", "parent": ORG,
                       "billing_email": "billing@beta.example"}),
                             ex.response("created", ex.ORGANIZATION, 201)])
    @idempotent
    def post(self, request):
        body = s.OrganizationIn(data=request.data)
        body.is_valid(raise_exception=True)
        org = body.save()
        return Response(s.OrganizationOut(org).data, status=201)


class OrganizationDetail(ApiView):
    permissions = {"GET": "subscriptions.view_organization", "PATCH": "subscriptions.change_organization"}

    @extend_schema(operation_id="organizations_retrieve", tags=["organizations"],
                   responses=s.OrganizationOut, examples=[ex.response("customer", ex.ORGANIZATION)])
    def get(self, request, uuid):
        return Response(s.OrganizationOut(get_object_or_404(organizations_for(request), uuid=uuid)).data)

    @extend_schema(operation_id="organizations_update", tags=["organizations"],
                   request=s.OrganizationPatch, responses=s.OrganizationOut,
                   examples=[ex.request("rename", {"name": "Beta Asia Pte Ltd"}),
                             ex.response("renamed", {**ex.ORGANIZATION, "name": "Beta Asia Pte Ltd"})])
    @idempotent
    def patch(self, request, uuid):
        org = get_object_or_404(organizations_for(request), uuid=uuid)
        body = s.OrganizationPatch(org, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        return Response(s.OrganizationOut(body.save()).data)


def _subscription_create(*, data: dict, actor):
    """The seed-parity work brings subscriptions.services.subscription_create (which runs
    onboarding); until then the row is created here and onboarding runs if it exists."""
    create = getattr(subscription_services, "subscription_create", None)
    if create is not None:
        return create(**data, actor=actor)
    from subscriptions.models import Subscription

    sub = Subscription.objects.create(**data)
    onboard = getattr(subscription_services, "subscription_onboard", None)
    if onboard is not None and sub.subscriber:
        onboard(subscription=sub, actor=actor)
    return sub


class SubscriptionList(ApiView):
    permissions = {"GET": "subscriptions.view_subscription", "POST": "subscriptions.add_subscription"}
    pagination_class = ByCreated

    @extend_schema(operation_id="subscriptions_list", tags=["subscriptions"],
                   responses=s.SubscriptionOut(many=True),
                   examples=[ex.response("page", ex.SUBSCRIPTION)])
    def get(self, request):
        return paginated(self, request, subscriptions_for(request), s.SubscriptionOut)

    @extend_schema(operation_id="subscriptions_create", tags=["subscriptions"],
                   request=s.SubscriptionIn, responses={201: s.SubscriptionOut},
                   examples=[OpenApiExample("service", request_only=True, value={
                       "organization": ORG, "kind": "service", "plan": "Business DID",
                       "current_period_end": "2026-02-01T00:00:00Z", "number_allowance": 5,
                       "subscriber": "alice"}),
                             ex.response("created", ex.SUBSCRIPTION, 201)])
    @idempotent
    def post(self, request):
        body = s.SubscriptionIn(data=request.data)
        body.is_valid(raise_exception=True)
        sub = _subscription_create(data=dict(body.validated_data), actor=request.user)
        return Response(s.SubscriptionOut(sub).data, status=201)


class SubscriptionDetail(ApiView):
    permissions = {"GET": "subscriptions.view_subscription"}

    @extend_schema(operation_id="subscriptions_retrieve", tags=["subscriptions"],
                   responses=s.SubscriptionOut, examples=[ex.response("service", ex.SUBSCRIPTION)])
    def get(self, request, uuid):
        return Response(s.SubscriptionOut(get_object_or_404(subscriptions_for(request), uuid=uuid)).data)


class _SubscriptionChange(ApiView):
    permissions = {"POST": "subscriptions.change_subscription"}

    def _subscription(self, request, uuid):
        return get_object_or_404(subscriptions_for(request), uuid=uuid)

    def _answer(self, sub, moved) -> Response:
        sub.refresh_from_db()
        return Response({"subscription": s.SubscriptionOut(sub).data, "moved": moved})


CHANGE_EXAMPLE = OpenApiExample("result", response_only=True, value={"subscription": {
    "uuid": SUB, "organization": ORG, "kind": "service", "plan": "Business DID", "status": "expired",
    "current_period_end": "2026-02-01T00:00:00Z", "number_allowance": 5, "subscriber": "alice",
    "created_at": "2026-01-01T00:00:00Z"}, "moved": ["+6560000001"]})


class SubscriptionStatusView(_SubscriptionChange):
    @extend_schema(operation_id="subscriptions_status", tags=["subscriptions"],
                   request=s.SubscriptionStatusIn, responses=s.SubscriptionChangeResult,
                   examples=[OpenApiExample("expire", request_only=True, value={"status": "expired"}),
                             CHANGE_EXAMPLE],
                   summary="Set the status; its numbers follow (expired: reserved 56 days …)")
    @idempotent
    def post(self, request, uuid):
        sub = self._subscription(request, uuid)
        body = s.SubscriptionStatusIn(data=request.data)
        body.is_valid(raise_exception=True)
        result = subscription_set_status(subscription=sub, status=body.validated_data["status"],
                                         actor=request.user)
        return self._answer(sub, e164s(result.done))


class SubscriptionRenewView(_SubscriptionChange):
    @extend_schema(operation_id="subscriptions_renew", tags=["subscriptions"],
                   request=s.SubscriptionRenewIn, responses=s.SubscriptionChangeResult,
                   examples=[OpenApiExample("renew", request_only=True,
                                            value={"current_period_end": "2026-03-01T00:00:00Z"}),
                             CHANGE_EXAMPLE],
                   summary="A new period end; charged reservations follow")
    @idempotent
    def post(self, request, uuid):
        sub = self._subscription(request, uuid)
        body = s.SubscriptionRenewIn(data=request.data)
        body.is_valid(raise_exception=True)
        before = dict(PhoneNumber.objects.filter(reservations__did_reservation=sub,
                                                 reservations__status="active")
                      .values_list("e164", "expires_at"))
        subscription_renew(subscription=sub, current_period_end=body.validated_data["current_period_end"],
                           actor=request.user)
        after = PhoneNumber.objects.filter(e164__in=before).values_list("e164", "expires_at")
        return self._answer(sub, sorted(e for e, end in after if before.get(e) != end))


class SubscriptionSwapView(_SubscriptionChange):
    @extend_schema(operation_id="subscriptions_swap", tags=["subscriptions"],
                   request=s.SubscriptionSwapIn, responses=s.SubscriptionChangeResult,
                   examples=[OpenApiExample("swap", request_only=True, value={
                       "old": "+6560000001", "new": "+6560000002", "remark": "customer asked"}),
                       CHANGE_EXAMPLE],
                   summary="Swap an assigned number for another (the old one: reserved 1 day)")
    @idempotent
    def post(self, request, uuid):
        sub = self._subscription(request, uuid)
        body = s.SubscriptionSwapIn(data=request.data)
        body.is_valid(raise_exception=True)
        numbers = {n.e164: n for n in numbers_for(request).filter(
            e164__in=[body.validated_data["old"], body.validated_data["new"]])}
        missing = {f: ["No such number."] for f in ("old", "new") if body.validated_data[f] not in numbers}
        if missing:
            raise exceptions.ValidationError(missing)
        old, new = numbers[body.validated_data["old"]], numbers[body.validated_data["new"]]
        result = subscription_swap_number(subscription=sub, old=old, new=new, actor=request.user,
                                          remark=body.validated_data["remark"])
        return self._answer(sub, e164s(result.done))
