from django.db import models


class OwnedQuerySet(models.QuerySet):
    """Rows a user may see: their own, or all of them for staff. One rule for API, pages and admin."""

    owner_field = "owner"

    def visible_to(self, user):
        return self if user.is_staff else self.filter(**{self.owner_field: user})
