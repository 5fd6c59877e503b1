"""Alembic migrations, shipped inside the package so an installed wheel can migrate its database.

``backend.db.alembic_config`` points Alembic at this directory wherever the package is installed;
developers run Alembic's own CLI with ``alembic -c backend/migrations/alembic.ini …``.
"""
