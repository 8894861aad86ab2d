"""Who am I over the API, and API tokens for scripts.

A script signs in once with email and password and then sends `Authorization: Token <key>`; a user
in several organizations names one with `X-Organization: <slug>` (orgs.middleware reads it)."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from orgs.models import Role


class TokenThrottle(AnonRateThrottle):
    # Password guessing is per address; an honest script asks for its token once.
    scope = "api_token"
    rate = "20/minute"


class TokenInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`")


@extend_schema(tags=["auth"])
class TokenApi(APIView):
    """Exchange email and password for the user's API token (the same token every time)."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes = [TokenThrottle]

    @extend_schema(
        request=TokenInputSerializer,
        responses={200: TokenOutputSerializer, 400: OpenApiResponse(description="Wrong email or password")},
        auth=[],
    )
    def post(self, request):
        data = TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=data.validated_data["email"].strip().lower(),
            password=data.validated_data["password"],
        )
        if user is None:
            raise serializers.ValidationError({"non_field_errors": ["Wrong email or password."]})
        token, _ = Token.objects.get_or_create(user=user)
        return Response(TokenOutputSerializer({"token": token.key}).data)


class OrganizationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    default_currency = serializers.CharField()


class MeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user.id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.display_name")
    role = serializers.ChoiceField(choices=Role.choices)
    membership = serializers.IntegerField(source="id", help_text="Membership id")
    organization = OrganizationOutputSerializer()


@extend_schema(tags=["auth"])
class MeApi(APIView):
    """The signed-in user, their role and the organization this request acts in."""

    @extend_schema(responses=MeOutputSerializer)
    def get(self, request):
        return Response(MeOutputSerializer(request.membership).data)
