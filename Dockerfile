# ETL Portal production image. One image runs every process: web (daphne, the default
# CMD), worker and beat (celery) and the one-shot migrate step; docker-compose.yml picks the
# command per service. Operator guide: docs/production.md.
FROM python:3.11-slim

# DATA_DIR is the application's writable directory; uploads live below it on a volume.
# STATIC_ROOT is filled at build time and served by WhiteNoise; it must not change at run time.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=etlportal.settings \
    DATA_DIR=/data \
    MEDIA_ROOT=/data/uploads \
    STATIC_ROOT=/app/staticfiles

# Unprivileged user with a fixed uid (chown a bind mount to 10001 if you use one instead of
# the named volume). /data/uploads exists in the image owned by that user, so an empty named
# volume mounted there starts with the same owner.
RUN groupadd --system --gid 10001 etlportal \
    && useradd --system --uid 10001 --gid etlportal --create-home --home-dir /home/etlportal \
        --shell /usr/sbin/nologin etlportal \
    && mkdir -p /data/uploads \
    && chown -R etlportal:etlportal /data

WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# The code stays owned by root: the application user can read it but not change it.
COPY . .

# Settings refuse to import without SECRET_KEY and FIELD_ENCRYPTION_KEY. collectstatic needs
# neither, so this one command gets random throwaway values; they exist only in this RUN
# shell and are not stored in the image's environment or layers.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    FIELD_ENCRYPTION_KEY="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    python manage.py collectstatic --noinput -v 0

USER etlportal

EXPOSE 8000

# HTTP and websockets.
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "etlportal.asgi:application"]
