"""dbt projects: registered as a directory the workers can read, or uploaded as a zip archive.

An archive is kept through the storage API (like uploads: a worker on another machine reads it)
and extracted by the worker into the run's temporary directory, safely: no absolute path, no
"..", no links, a bounded size and number of files. A directory must hold dbt_project.yml.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import ProtectedError

from credentials.models import Credential
from jobs.models import DbtProject, DbtProjectSource
from runs.dbt import project_problems

ARCHIVE_MAX_FILES = 5_000
# What dbt_project_create/update take besides the owner: the pages, the admin and the API read these.
PROJECT_FIELDS = ("name", "credential", "target_schema", "threads", "use_project_profiles", "path", "archive")


def _allowed_roots() -> list[Path]:
    return [Path(os.path.normpath(root)) for root in settings.DBT_PROJECTS_DIRS if Path(root).is_absolute()]


def _check_directory(path: str, *, contents: bool = True) -> Path:
    """The project's directory, if it is a readable dbt project inside DBT_PROJECTS_DIRS (and,
    with `contents`, its files keep to the project: runs.dbt checks the copy a run makes)."""
    if not path.startswith("/"):
        raise ValidationError({"path": [f"An absolute path, as the workers see it (not {path[:200]!r})."]})
    directory = Path(os.path.normpath(path))
    roots = _allowed_roots()
    if not any(directory == root or root in directory.parents for root in roots):
        where = ", ".join(str(root) for root in roots) or "nowhere (DBT_PROJECTS_DIRS is empty)"
        raise ValidationError(
            {"path": [f"Projects are registered by directory only from inside {where} (DBT_PROJECTS_DIRS); "
                      "put the project there, or upload it as a zip archive."]}
        )  # fmt: skip
    project_file = directory / "dbt_project.yml"
    try:
        if not directory.is_dir():
            raise ValidationError({"path": [f"{directory} is not a directory this server can read."]})
        if not project_file.is_file():
            raise ValidationError({"path": [f"{directory} has no dbt_project.yml: it is not a dbt project."]})
        project_file.read_text()
    except OSError as exc:
        raise ValidationError({"path": [f"{directory} cannot be read: {exc.strerror or exc}."]}) from None
    problems = project_problems(directory) if contents else []
    if problems:
        raise ValidationError({"path": problems})
    return directory


def archive_root(names: list[str]) -> PurePosixPath:
    """Where dbt_project.yml is in the archive: at its top, or in its one top folder."""
    roots = [PurePosixPath(name).parent for name in names if PurePosixPath(name).name == "dbt_project.yml"]
    if not roots:
        raise ValidationError({"archive": ["The archive has no dbt_project.yml."]})
    shallowest = min(roots, key=lambda root: len(root.parts))
    if len(shallowest.parts) > 1:
        raise ValidationError({"archive": ["dbt_project.yml must be at the top of the archive or in its top folder."]})
    return shallowest


def check_archive(stream: BinaryIO) -> PurePosixPath:
    """Every member safe to extract, and the project's root in the archive; ValidationError saying why not."""
    try:
        archive = zipfile.ZipFile(stream)
    except zipfile.BadZipFile:
        raise ValidationError({"archive": ["Not a zip archive."]}) from None
    with archive:
        members = archive.infolist()
        if len(members) > ARCHIVE_MAX_FILES:
            raise ValidationError(
                {"archive": [f"The archive holds {len(members):,} files; at most {ARCHIVE_MAX_FILES:,}."]}
            )
        total = 0
        for member in members:
            path = PurePosixPath(member.filename)
            if not path.parts or path.parts == (".",) or "\x00" in member.filename:
                raise ValidationError(
                    {"archive": [f"The archive has a member with no usable name ({member.filename!r})."]}
                )
            if member.filename.startswith(("/", "\\")) or path.is_absolute() or ":" in path.parts[0]:
                raise ValidationError({"archive": [f"{member.filename!r} has an absolute path."]})
            if ".." in path.parts or "\\" in member.filename:
                raise ValidationError({"archive": [f"{member.filename!r} points outside the archive."]})
            if stat.S_ISLNK(member.external_attr >> 16):
                raise ValidationError({"archive": [f"{member.filename!r} is a link; links are not extracted."]})
            total += member.file_size
            if total > settings.DBT_ARCHIVE_MAX_BYTES:
                raise ValidationError(
                    {"archive": [f"The archive unpacks to more than {settings.DBT_ARCHIVE_MAX_BYTES:,} bytes."]}
                )
        return archive_root([m.filename for m in members if not m.is_dir()])


def extract_archive(stream: BinaryIO, destination: Path) -> Path:
    """Extract a checked archive into destination; returns the project's directory in it."""
    root = check_archive(stream)
    stream.seek(0)
    with zipfile.ZipFile(stream) as archive:
        for member in archive.infolist():
            target = (destination / member.filename).resolve()
            if not target.is_relative_to(destination.resolve()):
                raise ValidationError({"archive": [f"{member.filename!r} points outside the archive."]})
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, target.open("wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
    return destination / root


def project_directory(project: DbtProject, scratch: Path) -> Path:
    """The project as files on this machine: its directory, or its archive extracted into scratch."""
    if project.source == DbtProjectSource.PATH:
        return _check_directory(project.path, contents=False)  # run_command checks the run's copy
    with project.archive.storage.open(project.archive.name, "rb") as stream:
        return extract_archive(stream, scratch / "archive")


def dbt_project_problems(
    *,
    name: str,
    credential: Credential | None,
    target_schema: str,
    threads: int,
    path: str = "",
    archive: UploadedFile | None = None,
    project: DbtProject | None = None,
) -> dict[str, list[str]]:
    """What is wrong with these values for a new project (or a change of `project`), by field."""
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["Required."]
    if not target_schema.strip() or len(target_schema.strip().encode()) > 63:
        errors["target_schema"] = ["A schema name of 1 to 63 bytes."]
    if credential is None:
        errors["credential"] = ["Required."]
    elif credential.kind not in ("postgresql", "redshift", "duckdb"):
        errors["credential"] = [f"dbt cannot run against {credential.get_kind_display()}."]
    if not 1 <= threads <= 64:
        errors["threads"] = ["From 1 to 64."]
    keeps_archive = project is not None and project.source == DbtProjectSource.ARCHIVE
    if path.strip() and archive:
        errors["path"] = ["Give the project's directory, or upload its zip archive (one of them)."]
    elif not path.strip() and not archive and not keeps_archive:
        errors["path"] = ["Give the project's directory, or upload its zip archive."]
    try:
        if archive:
            if archive.size > settings.DBT_ARCHIVE_MAX_BYTES:
                raise ValidationError(
                    {"archive": [f"The archive is larger than {settings.DBT_ARCHIVE_MAX_BYTES:,} bytes."]}
                )
            check_archive(archive)
            archive.seek(0)
            with tempfile.TemporaryDirectory(prefix="etlportal-dbt-check-", dir=settings.DBT_WORK_DIR) as scratch:
                problems = project_problems(extract_archive(archive, Path(scratch)))
            archive.seek(0)
            if problems:
                raise ValidationError({"archive": problems})
        elif path.strip():
            _check_directory(path.strip())
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    return errors


def _set_files(project: DbtProject, *, path: str, archive: UploadedFile | None) -> None:
    if archive:
        project.source, project.path = DbtProjectSource.ARCHIVE, ""
        project.archive.save(Path(archive.name or "project.zip").name, archive, save=False)
    elif path.strip():
        project.source, project.path = DbtProjectSource.PATH, str(_check_directory(path.strip()))
        project.archive = None


@transaction.atomic
def dbt_project_create(
    *,
    owner,
    name: str,
    credential: Credential,
    target_schema: str,
    path: str = "",
    archive: UploadedFile | None = None,
    threads: int = 4,
    use_project_profiles: bool = False,
) -> DbtProject:
    """A dbt project from a directory the workers can read, or from an uploaded zip archive."""
    values = {"name": name, "credential": credential, "target_schema": target_schema, "threads": threads}
    errors = dbt_project_problems(**values, path=path, archive=archive)
    if errors:
        raise ValidationError(errors)
    project = DbtProject(
        owner=owner,
        name=name.strip(),
        credential=credential,
        target_schema=target_schema.strip(),
        threads=threads,
        use_project_profiles=use_project_profiles,
    )
    _set_files(project, path=path, archive=archive)
    project.save()
    return project


@transaction.atomic
def dbt_project_update(
    *,
    project: DbtProject,
    name: str,
    credential: Credential,
    target_schema: str,
    path: str = "",
    archive: UploadedFile | None = None,
    threads: int = 4,
    use_project_profiles: bool = False,
) -> DbtProject:
    """Change a project; a new archive replaces its files, a path replaces an archive. Past runs keep
    the results they recorded."""
    values = {"name": name, "credential": credential, "target_schema": target_schema, "threads": threads}
    errors = dbt_project_problems(**values, path=path, archive=archive, project=project)
    if errors:
        raise ValidationError(errors)
    project.name, project.credential, project.target_schema = name.strip(), credential, target_schema.strip()
    project.threads, project.use_project_profiles = threads, use_project_profiles
    old_archive = project.archive.name if project.archive else ""
    _set_files(project, path=path, archive=archive)
    project.save()
    if old_archive and old_archive != (project.archive.name if project.archive else ""):
        transaction.on_commit(lambda: project.archive.storage.delete(old_archive))
    return project


def dbt_project_check(project: DbtProject) -> str:
    """Whether the project can be read from here: "" when it can, else why not. An archive is
    checked, not extracted (its files were checked when it was uploaded)."""
    try:
        if project.source == DbtProjectSource.PATH:
            _check_directory(project.path)
        else:
            with project.archive.storage.open(project.archive.name, "rb") as stream:
                check_archive(stream)
    except ValidationError as exc:
        return " ".join(exc.messages)
    except OSError as exc:
        return f"The project cannot be read: {exc.strerror or exc}."
    return ""


def dbt_project_delete(*, project: DbtProject) -> None:
    try:
        project.delete()
    except ProtectedError:
        raise ValidationError(f"dbt project {project.name!r} is used by pipeline steps; remove them first.") from None
