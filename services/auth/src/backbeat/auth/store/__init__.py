"""Auth's PostgreSQL storage: tables, queries and Alembic migrations."""
