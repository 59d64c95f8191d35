"""Operator pages (server-rendered)."""

from django.http import JsonResponse

from p3s.api.views import summary_data


def dashboard(request):
    # Placeholder until the pages land (issue 4): the summary as JSON for logged-in people.
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "log in at /accounts/login/"}, status=401)
    return JsonResponse(summary_data())
