import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create an admin user when there is none "
        "(ADMIN_USERNAME, ADMIN_EMAIL, ADMIN_PASSWORD, or a generated password)."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("ADMIN_USERNAME", "").strip() or "admin"
        email = os.environ.get("ADMIN_EMAIL", "").strip()
        password = os.environ.get("ADMIN_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email=email, password=password)
        if generated:
            # Shown once, here; it is stored only as a hash.
            self.stdout.write(
                f"Created admin user {username!r} with password {password}\n"
                "  (shown only this once: note it, or change it in the admin under Users)."
            )
        else:
            self.stdout.write(f"Created admin user {username!r} with the password from ADMIN_PASSWORD.")
