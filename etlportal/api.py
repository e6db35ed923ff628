"""API glue shared by every app: errors from services become 400s, never 500s."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    # Services raise Django's ValidationError (they also serve admin and pages);
    # the API reports it like any other invalid input.
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = serializers.ValidationError(exc.message_dict)
        else:
            exc = serializers.ValidationError({"detail": exc.messages})
    return drf_exception_handler(exc, context)
