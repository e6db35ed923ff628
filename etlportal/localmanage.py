"""`make manage ARGS="..."`: manage.py with the keys `make run` generated for this machine."""

import os
import sys
from pathlib import Path

from etlportal import localsecrets


def main() -> None:
    data_dir = Path(os.environ.get("DATA_DIR") or Path(__file__).resolve().parent.parent / "data").resolve()
    secrets = localsecrets.load_or_create(data_dir / "secrets.env")
    for name in localsecrets.SECRET_NAMES:
        if not os.environ.get(name):
            os.environ[name] = secrets[name]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "etlportal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *sys.argv[1:]])


if __name__ == "__main__":
    main()
