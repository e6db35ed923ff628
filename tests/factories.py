"""Small helpers that build objects through the services, as the API would."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from credentials.services import credential_create
from jobs.services import job_create, upload_store
from tests.conftest import dest_credential_fields

SIMPLE_CSV = "id,name\n1,one\n2,two\n3,three\n"
SIMPLE_MAPPINGS = [
    {"source_column": "id", "destination_column": "id", "destination_type": "integer", "nullable": False},
    {"source_column": "name", "destination_column": "name", "destination_type": "text"},
]


def make_upload(user, text: str = SIMPLE_CSV, name: str = "simple.csv"):
    return upload_store(file=SimpleUploadedFile(name, text.encode()), user=user)


def make_credential(user, name: str = "warehouse", password: str = ""):
    return credential_create(owner=user, name=name, **dest_credential_fields(password))


def make_job(user, *, schema: str = "public", table: str = "simple", text: str = SIMPLE_CSV, credential=None, **extra):
    return job_create(
        owner=user,
        name=f"load {table}",
        source=make_upload(user, text),
        destination=credential or make_credential(user, name=f"warehouse for {table}"),
        schema=schema,
        table=table,
        create_table=True,
        mappings=SIMPLE_MAPPINGS,
        **extra,
    )
