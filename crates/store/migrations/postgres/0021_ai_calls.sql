-- Model calls made outside a workflow's run (a drafted workflow, a gateway request): counted in
-- the organization's AI spend, and by API key for the gateway's usage page.
CREATE TABLE ai_calls (
    id            UUID PRIMARY KEY,
    org_id        UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    source        TEXT NOT NULL CHECK (source IN ('draft', 'gateway')),
    api_key_id    UUID REFERENCES api_keys (id) ON DELETE SET NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    input_tokens  BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_micros   BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX ai_calls_by_org ON ai_calls (org_id, created_at);
