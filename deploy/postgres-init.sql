-- Runs once, when the PostgreSQL volume is created: the registration service's own database and role.
-- (Synapse uses the database created from POSTGRES_DB.)
CREATE ROLE registration LOGIN PASSWORD 'registration';
CREATE DATABASE registration OWNER registration;
