"""Accounts and contacts over the API: lists with search, create, detail and edit.

Any member of the organization may create and edit them (the services say so)."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.filters import CONTACT_LIST_PARAMETERS, AccountFilter, ContactFilter
from deals.api.serializers import RefSerializer
from deals.models import Account, Contact
from deals.services import account_create, account_update, contact_create, contact_update
from salesproc.lib.api_scoping import OrgPrimaryKeyRelatedField, ScopedObjectMixin, request_org

# ---- accounts


class AccountOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    industry = serializers.CharField()
    website = serializers.CharField()
    notes = serializers.CharField()
    created_at = serializers.DateTimeField()


class AccountInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    industry = serializers.CharField(max_length=80, required=False, allow_blank=True)
    website = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(max_length=10000, required=False, allow_blank=True)


class AccountUpdateInputSerializer(AccountInputSerializer):
    name = serializers.CharField(max_length=200, required=False)


@extend_schema(tags=["accounts"])
class AccountListCreateApi(generics.ListAPIView):
    """The organization's accounts, newest first."""

    serializer_class = AccountOutputSerializer
    queryset = Account.objects.none()  # for the schema only: get_queryset scopes to the org
    filter_backends = [DjangoFilterBackend]
    filterset_class = AccountFilter

    def get_queryset(self):
        return Account.objects.for_org(request_org(self.request))

    @extend_schema(request=AccountInputSerializer, responses={201: AccountOutputSerializer})
    def post(self, request):
        data = AccountInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = account_create(by=request.membership, **data.validated_data)
        return Response(AccountOutputSerializer(account).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["accounts"])
class AccountDetailApi(ScopedObjectMixin, APIView):
    scoped_attr = "account"
    scoped_url_kwarg = "account_id"
    scoped_queryset = Account.objects.all()

    @extend_schema(responses=AccountOutputSerializer)
    def get(self, request, account_id: int):
        return Response(AccountOutputSerializer(self.account).data)

    @extend_schema(request=AccountUpdateInputSerializer, responses=AccountOutputSerializer)
    def patch(self, request, account_id: int):
        data = AccountUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = account_update(account=self.account, by=request.membership, **data.validated_data)
        return Response(AccountOutputSerializer(account).data)


# ---- contacts


class ContactOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()
    title = serializers.CharField()
    phone = serializers.CharField()
    account = RefSerializer(allow_null=True)
    created_at = serializers.DateTimeField()


class ContactInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    title = serializers.CharField(max_length=120, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    account = OrgPrimaryKeyRelatedField(Account, required=False, allow_null=True)


class ContactUpdateInputSerializer(ContactInputSerializer):
    name = serializers.CharField(max_length=200, required=False)


def contact_queryset(org):
    return Contact.objects.for_org(org).select_related("account")


@extend_schema(tags=["contacts"])
@extend_schema_view(get=extend_schema(parameters=CONTACT_LIST_PARAMETERS))
class ContactListCreateApi(generics.ListAPIView):
    """The organization's contacts, newest first; `?account=` keeps one account's."""

    serializer_class = ContactOutputSerializer
    queryset = Contact.objects.none()  # for the schema only: get_queryset scopes to the org
    filter_backends = [DjangoFilterBackend]
    filterset_class = ContactFilter

    def get_queryset(self):
        return contact_queryset(request_org(self.request))

    @extend_schema(request=ContactInputSerializer, responses={201: ContactOutputSerializer})
    def post(self, request):
        data = ContactInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        contact = contact_create(by=request.membership, **data.validated_data)
        contact = contact_queryset(request_org(request)).get(pk=contact.pk)
        return Response(ContactOutputSerializer(contact).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["contacts"])
class ContactDetailApi(ScopedObjectMixin, APIView):
    scoped_attr = "contact"
    scoped_url_kwarg = "contact_id"

    def get_scoped_queryset(self):
        return contact_queryset(request_org(self.request))

    @extend_schema(responses=ContactOutputSerializer)
    def get(self, request, contact_id: int):
        return Response(ContactOutputSerializer(self.contact).data)

    @extend_schema(request=ContactUpdateInputSerializer, responses=ContactOutputSerializer)
    def patch(self, request, contact_id: int):
        data = ContactUpdateInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        contact_update(contact=self.contact, by=request.membership, **data.validated_data)
        contact = contact_queryset(request_org(request)).get(pk=self.contact.pk)
        return Response(ContactOutputSerializer(contact).data)
