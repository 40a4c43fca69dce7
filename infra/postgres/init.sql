-- Runs once, on the first start of an empty Postgres data directory (docker-entrypoint-initdb.d).
-- The session service migrates its own schema (alembic upgrade head) at start; this only makes
-- sure the database exists and has the extensions and role settings the service expects.
SELECT 'CREATE DATABASE switchboard'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'switchboard')\gexec

\connect switchboard
-- Idle transactions must not hold row locks (rate-limit rows, active-run rows) forever.
ALTER DATABASE switchboard SET idle_in_transaction_session_timeout = '60s';
ALTER DATABASE switchboard SET statement_timeout = '30s';
