-- 0013: the key store leaves the data file (decision C6). The wrapped
-- organisation keys, per-record data keys and the key inventory now live in
-- db/keys.db (schema `keys`, migrations/sqlite/keys/), which the driver
-- creates and fills from these tables in its own committed transaction
-- before this migration runs. Here they are dropped, so that a copy of
-- db/bulwark.db (a backup, a stolen file) holds ciphertext but no key.
-- secure_delete is on for every connection: the freed pages are zeroed.
DROP TABLE main.bw_org_keys;
DROP TABLE main.bw_data_keys;
DROP TABLE main.bw_key_inventory;
