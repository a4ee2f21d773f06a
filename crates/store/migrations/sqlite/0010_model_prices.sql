-- Prices an organization sets over the shipped list, per provider and model-id prefix, in
-- US dollars per million tokens.
CREATE TABLE model_prices (
    org_id      BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    input_usd   REAL NOT NULL,
    output_usd  REAL NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, provider, model)
) STRICT;
