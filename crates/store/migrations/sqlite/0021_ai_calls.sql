-- Model calls made outside a workflow's run (a drafted workflow, a gateway request): counted in
-- the organization's AI spend, and by API key for the gateway's usage page.
CREATE TABLE ai_calls (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    source        TEXT NOT NULL CHECK (source IN ('draft', 'gateway')),
    api_key_id    BLOB REFERENCES api_keys (id) ON DELETE SET NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_micros   INTEGER NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX ai_calls_by_org ON ai_calls (org_id, created_at);
