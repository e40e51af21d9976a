"""Partner dashboard (read-only). Every view reads through selectors.numbers_visible_to."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse

from .selectors import numbers_visible_to, partner_of


@login_required
def summary(request):
    if partner_of(request.user) is None:
        raise Http404("No partner organization")
    return HttpResponse(f"{numbers_visible_to(request.user).count()} numbers")
