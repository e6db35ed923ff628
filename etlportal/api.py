"""API glue shared by every app: errors from services become 400s, never 500s."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
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


class ShallowJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 to JSON nested too deep to read: the json module raises
    RecursionError there, which DRF's parser (catching ValueError) lets through as a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deep to read.") from None
