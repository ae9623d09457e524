-- The role the application connects as (row-level security, billing_site/rls.py): it
-- owns no table and cannot bypass the policies. Run once per database server as the
-- owner (psql 15+: the password comes from the DB_APP_PASSWORD environment variable):
--   DB_APP_PASSWORD=... psql -U <owner> -d <database> -f scripts/db-app-role.sql
-- `manage.py migrate`, run as the owner, then grants it its rights on every table.
\getenv app_password DB_APP_PASSWORD
\if :{?app_password}
\else
  \set app_password msp_app
\endif
SELECT format(
    'CREATE ROLE msp_app LOGIN PASSWORD %L NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE',
    :'app_password'
)
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'msp_app')
\gexec
GRANT USAGE ON SCHEMA public TO msp_app;
