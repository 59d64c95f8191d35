"""Machine API of the run verdict: ``GET runs/{run}/quality/``, ``POST runs/{run}/signoff/``.

Operators (and experts) read the verdict and sign runs off; DAQ and pilot tokens get 403,
anonymous requests 401. Wired from ``p3s/api/urls.py``.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import Http404
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from p3s.accounts import roles
from p3s.dags.models import DataFile
from p3s.quality.models import Flag, Verdict
from p3s.quality.verdict import run_quality, sign_off

MAX_RUN = 2**31 - 1


class SignoffBody(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Verdict.choices)
    comment = serializers.CharField(allow_blank=True, required=False, default="", max_length=5000)


class SignoffSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Verdict.choices)
    comment = serializers.CharField()
    by = serializers.CharField(help_text="who signed: user:<name> or <role>:<token name>")
    at = serializers.DateTimeField()
    automatic = serializers.ChoiceField(
        choices=Flag.choices, help_text="the automatic verdict when signed"
    )


class FlagSerializer(serializers.Serializer):
    element = serializers.DictField(child=serializers.CharField())
    check = serializers.CharField()
    kind = serializers.CharField()
    flag = serializers.ChoiceField(choices=Flag.choices)
    value = serializers.FloatField(allow_null=True)
    reference = serializers.FloatField(allow_null=True)
    statistic = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    detail = serializers.CharField()
    product = serializers.IntegerField(allow_null=True, help_text="the product (plot) judged")
    job = serializers.IntegerField(allow_null=True)
    data_ts = serializers.DateTimeField()


class TallySerializer(serializers.Serializer):
    check = serializers.CharField()
    good = serializers.IntegerField()
    warning = serializers.IntegerField()
    bad = serializers.IntegerField()
    undefined = serializers.IntegerField()


@extend_schema_serializer(component_name="QualityReference")  # conditions has a "Reference"
class ReferenceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)
    expired = serializers.BooleanField()


class RunQualitySerializer(serializers.Serializer):
    run = serializers.IntegerField()
    verdict = serializers.ChoiceField(
        choices=Flag.choices, help_text="the newest sign-off's verdict, else the automatic one"
    )
    automatic = serializers.ChoiceField(choices=Flag.choices)
    signoff = SignoffSerializer(allow_null=True)
    signoffs = SignoffSerializer(many=True, help_text="sign-off history, newest first")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="results by flag")
    checks = TallySerializer(many=True, help_text="results by check and flag")
    flags = FlagSerializer(many=True, help_text="worst warning or bad result per check and element")
    reference = ReferenceSerializer(allow_null=True)
    notes = serializers.ListField(child=serializers.CharField())


def _known_run(run: int) -> int:
    if run > MAX_RUN or not DataFile.objects.filter(run=run).exists():
        raise Http404(f"no files of run {run}")
    return run


class RunQualityView(APIView):
    """The automatic verdict, the sign-off and the failing checks of a run."""

    permission_classes = [roles.IsOperator]

    @extend_schema(responses={200: RunQualitySerializer}, operation_id="runs_quality")
    def get(self, request, run: int):
        return Response(run_quality(_known_run(run)))


class RunSignoffView(APIView):
    """An operator signs a run off: ``{"verdict": "good"|"bad", "comment": "..."}``."""

    permission_classes = [roles.IsOperator]

    @extend_schema(
        request=SignoffBody, responses={201: RunQualitySerializer}, operation_id="runs_signoff"
    )
    def post(self, request, run: int):
        _known_run(run)
        body = SignoffBody(data=request.data)
        body.is_valid(raise_exception=True)
        # A person signs as themself; a token (TokenUser) is named by the actor string only.
        user = request.user if isinstance(request.user, get_user_model()) else None
        sign_off(
            run,
            user,
            body.validated_data["verdict"],
            body.validated_data["comment"],
            actor=roles.actor_of(request),
        )
        return Response(run_quality(run), status=201)


urlpatterns = [
    path("runs/<int:run>/quality/", RunQualityView.as_view(), name="run-quality"),
    path("runs/<int:run>/signoff/", RunSignoffView.as_view(), name="run-signoff"),
]
