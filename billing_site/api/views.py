from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from billing_site import selectors, services
from billing_site.models import Contact, Organization
from billing_site.roles import Cap

from .base import TenantFilterSet, TenantReadWriteViewSet
from .serializers import ContactSerializer, OrganizationSerializer, StrictSerializerMixin
from .tokens import token_current, token_expires_at


class OrganizationFilter(TenantFilterSet):
    name = filters.CharFilter(lookup_expr="istartswith")
    company_number = filters.CharFilter(lookup_expr="iexact")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Organization
        fields = ["name", "company_number", "country", "currency", "language", "is_active"]


class OrganizationViewSet(TenantReadWriteViewSet):
    """Customer organizations of the tenant."""

    serializer_class = OrganizationSerializer
    queryset = Organization.objects.all()
    filterset_class = OrganizationFilter
    search_fields = ["name", "company_number", "billing_contact_email"]
    ordering_fields = ["name", "company_number", "created_at"]
    read_capability = Cap.VIEW_CUSTOMERS
    write_capability = Cap.MANAGE_CUSTOMERS

    def get_queryset(self):
        return selectors.organization_list()

    def perform_create(self, serializer):
        serializer.instance = services.organization_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.organization_update(
            organization=serializer.instance, **serializer.validated_data
        )


class ContactFilter(TenantFilterSet):
    class Meta:
        model = Contact
        fields = ["organization"]


class ContactViewSet(TenantReadWriteViewSet):
    """People at customer organizations."""

    serializer_class = ContactSerializer
    queryset = Contact.objects.all()
    filterset_class = ContactFilter
    search_fields = ["name", "email"]
    read_capability = Cap.VIEW_CUSTOMERS
    write_capability = Cap.MANAGE_CUSTOMERS

    def get_queryset(self):
        return selectors.contact_list()

    def perform_create(self, serializer):
        serializer.instance = services.contact_create(**serializer.validated_data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        if "organization" in data and data.pop("organization") != serializer.instance.organization:
            raise serializers.ValidationError(
                {"organization": ["A contact cannot change organization."]}
            )
        serializer.instance = services.contact_update(contact=serializer.instance, **data)


class TokenRequestSerializer(StrictSerializerMixin, serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ObtainTokenView(APIView):
    """POST username and password; returns the user's API token and when it expires (a
    new one once the old expired; see ``billing_site.api.tokens``)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonRateThrottle]

    @extend_schema(request=TokenRequestSerializer, responses=TokenResponseSerializer)
    def post(self, request):
        from django.contrib.auth import authenticate, user_logged_in

        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request._request, **serializer.validated_data)
        if user is None:
            return Response(
                {"non_field_errors": ["Unable to log in with these credentials."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        # A login like the page's: clears the account's failed-login count, sets last_login.
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        token = token_current(user=user)
        return Response(
            {"token": token.key, "expires_at": token_expires_at(token)}, status=status.HTTP_200_OK
        )
