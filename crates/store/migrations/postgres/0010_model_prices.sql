-- Prices an organization sets over the shipped list, per provider and model-id prefix, in
-- US dollars per million tokens.
CREATE TABLE model_prices (
    org_id      UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    input_usd   DOUBLE PRECISION NOT NULL,
    output_usd  DOUBLE PRECISION NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, provider, model)
);
