-- One login role and database per service (plus a *_test database for the test suite).
-- Each role owns only its own databases, and CONNECT is revoked from everybody else, so
-- "only tokens can read credentials" is enforced by PostgreSQL itself. Idempotent; run by
-- infra/postgres/up.sh and by the PostgreSQL container's init in docker-compose.yml.
-- The passwords are development credentials; production provisions its own roles.
\set ON_ERROR_STOP on

SELECT 'CREATE ROLE auth LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'auth')\gexec
ALTER ROLE auth LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'backbeat-dev-auth';
SELECT 'CREATE DATABASE auth OWNER auth' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'auth')\gexec
REVOKE ALL ON DATABASE auth FROM PUBLIC;
GRANT ALL ON DATABASE auth TO auth;
\connect auth
ALTER SCHEMA public OWNER TO auth;
\connect postgres
SELECT 'CREATE DATABASE auth_test OWNER auth' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'auth_test')\gexec
REVOKE ALL ON DATABASE auth_test FROM PUBLIC;
GRANT ALL ON DATABASE auth_test TO auth;
\connect auth_test
ALTER SCHEMA public OWNER TO auth;
\connect postgres

SELECT 'CREATE ROLE tokens LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tokens')\gexec
ALTER ROLE tokens LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'backbeat-dev-tokens';
SELECT 'CREATE DATABASE tokens OWNER tokens' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tokens')\gexec
REVOKE ALL ON DATABASE tokens FROM PUBLIC;
GRANT ALL ON DATABASE tokens TO tokens;
\connect tokens
ALTER SCHEMA public OWNER TO tokens;
\connect postgres
SELECT 'CREATE DATABASE tokens_test OWNER tokens' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tokens_test')\gexec
REVOKE ALL ON DATABASE tokens_test FROM PUBLIC;
GRANT ALL ON DATABASE tokens_test TO tokens;
\connect tokens_test
ALTER SCHEMA public OWNER TO tokens;
\connect postgres

SELECT 'CREATE ROLE playback LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'playback')\gexec
ALTER ROLE playback LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'backbeat-dev-playback';
SELECT 'CREATE DATABASE playback OWNER playback' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'playback')\gexec
REVOKE ALL ON DATABASE playback FROM PUBLIC;
GRANT ALL ON DATABASE playback TO playback;
\connect playback
ALTER SCHEMA public OWNER TO playback;
\connect postgres
SELECT 'CREATE DATABASE playback_test OWNER playback' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'playback_test')\gexec
REVOKE ALL ON DATABASE playback_test FROM PUBLIC;
GRANT ALL ON DATABASE playback_test TO playback;
\connect playback_test
ALTER SCHEMA public OWNER TO playback;
\connect postgres
