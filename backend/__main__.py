"""``phananh`` console script and ``python -m backend``: the Flask CLI group built on create_app."""

from __future__ import annotations

import logging

from flask.cli import FlaskGroup

from backend.app import create_app


def main() -> None:
    """Console-script entry point: ``phananh <command>``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    group = FlaskGroup(create_app=create_app, add_default_commands=False, add_version_option=False,
                       load_dotenv=False, help="phananh — phản ánh hiện trường.")
    group.main(prog_name="phananh")


if __name__ == "__main__":
    main()
