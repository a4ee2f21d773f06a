-- Circuits open for an organization's calls to a service, so that every process sharing the
-- database holds its calls back once one of them has seen the service fail repeatedly.
CREATE TABLE circuits (
    org_id     UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    service    TEXT NOT NULL,
    open_until TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, service)
);
