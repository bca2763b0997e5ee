-- Namespaces are created, not implied (API.md "Namespaces, API keys, TLS"): a description and
-- a creation time beside the retention.
ALTER TABLE namespaces ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE namespaces ADD COLUMN created_at REAL NOT NULL DEFAULT 0;

-- API keys (server/auth.py). secret_hash: the SHA-256 of the key's random secret, hex; the key
-- itself is never stored. namespace '*' covers every namespace. expires_at and revoked_at
-- are null while they do not apply.
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    namespace TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
