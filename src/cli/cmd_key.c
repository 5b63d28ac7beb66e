/*
 * cmd_key.c - `bulwark key rotate` and `bulwark key list` (CONTROL: G-09,
 * CRY-01). rotate writes a new master key version (keys/master-N.key, 0600)
 * and rewraps every organisation key under it in one audited transaction
 * (key.rotated); a `bulwark serve` running meanwhile loads the new version
 * when it first meets it and keeps serving. The older master key files stay
 * on disk, retired in the inventory: older backups still need them until
 * they expire. list prints the key inventory (created, activated, retired,
 * destroyed). Never prints key material.
 */
#include "audit/audit.h"
#include "cli/cli_int.h"
#include "crypto/crypto.h"
#include "data/data.h"
#include "store/store.h"
#include "sys/sys.h"

#include <jansson.h>
#include <string.h>

static enum bw_rc key_rotate(struct bw_cli *cli, struct bw_store *st,
                             const char *keys)
{
    struct bw_keyring *kr = NULL;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    char why[512] = "";
    int created = 0, version = 0;
    unsigned orgs = 0;
    enum bw_rc rc = bw_keyring_master_create(keys, &created, why, sizeof(why));
    if (rc != BW_OK) {
        bw_cli_error("key rotate: cannot create a new master key: %s", why[0] ? why : bw_rc_str(rc));
        return rc;
    }
    rc = bw_keyring_load(keys, &kr, why, sizeof(why));
    if (rc == BW_OK)
        rc = bw_keys_rotate(st, kr, &ctx, &orgs, &version);
    bw_keyring_free(kr);
    if (rc != BW_OK) {
        bw_cli_error("key rotate: %s", why[0] ? why : bw_rc_str(rc));
        return rc;
    }
    if (cli->json)
        printf("{\"master_version\":%d,\"org_keys_rewrapped\":%u}\n", version, orgs);
    else
        printf("master key version %d active; %u organisation keys rewrapped\n", version, orgs);
    return BW_OK;
}

static enum bw_rc key_list(struct bw_cli *cli, struct bw_store *st)
{
    json_t *inv = NULL;
    enum bw_rc rc = bw_keys_inventory(st, &inv);
    if (rc != BW_OK) {
        bw_cli_error("key list: %s", bw_rc_str(rc));
        return rc;
    }
    if (cli->json) {
        char *text = json_dumps(inv, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text != NULL)
            printf("%s\n", text);
        bw_free(text);
    } else {
        size_t i;
        json_t *k;
        printf("%-7s %-26s %7s %-20s %-20s %-20s %s\n", "KIND", "SCOPE", "VERSION", "ACTIVATED",
               "RETIRED", "DESTROYED", "");
        json_array_foreach(inv, i, k)
        {
            const char *a = json_string_value(json_object_get(k, "activated_at"));
            const char *r = json_string_value(json_object_get(k, "retired_at"));
            const char *d = json_string_value(json_object_get(k, "destroyed_at"));
            printf("%-7s %-26s %7lld %-20s %-20s %-20s\n",
                   json_string_value(json_object_get(k, "kind")),
                   json_string_value(json_object_get(k, "scope")),
                   (long long)json_integer_value(json_object_get(k, "version")), a ? a : "-",
                   r ? r : "-", d ? d : "-");
        }
    }
    json_decref(inv);
    return BW_OK;
}

enum bw_rc bw_cmd_key(struct bw_cli *cli, int argc, char **argv)
{
    struct bw_config cfg;
    struct bw_store *st = NULL;
    char keys[4096];
    if (argc >= 2 && strcmp(argv[1], "export-recovery") == 0)
        return bw_cmd_key_recovery(cli, argc, argv); /* cmd_key_recovery.c */
    if (argc != 2 || (strcmp(argv[1], "rotate") != 0 && strcmp(argv[1], "list") != 0))
        return bw_cli_usage(cli, "expected 'key rotate', 'key list' or 'key export-recovery'");
    enum bw_rc rc = bw_cli_load_config(cli, &cfg);
    if (rc != BW_OK)
        return rc;
    rc = bw_cli_open_store(cli, &cfg, 1, true, &st);
    if (rc == BW_OK)
        rc = bw_sys_path(keys, sizeof(keys), cli->data_dir, "keys");
    if (rc == BW_OK)
        rc = strcmp(argv[1], "rotate") == 0 ? key_rotate(cli, st, keys) : key_list(cli, st);
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    return rc;
}
