#!/bin/sh
# Runs once, as the Postgres superuser, when the data volume is created: the roles the services
# connect as. Neither is a superuser. Switchboard's role owns its database (its migrations create
# the row-level-security roles, hence CREATEROLE); Temporal's owns Temporal's two databases.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v app_password="$SWITCHBOARD_DB_PASSWORD" -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
create role switchboard login nosuperuser nocreatedb createrole password :'app_password';
create database switchboard owner switchboard;
create role temporal login nosuperuser nocreatedb nocreaterole password :'temporal_password';
create database temporal owner temporal;
create database temporal_visibility owner temporal;
SQL
