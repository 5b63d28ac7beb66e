/*
 * cfgaudit.c - configuration changes are audit events (issue 5, CONTROL:
 * LOG-04). At every `bulwark serve` start the effective configuration (file,
 * environment and -o flags together) is compared with the one the previous
 * start recorded; a difference is one `config.changed` event naming every
 * changed key with its old and new value, secrets masked. The first start
 * records `config.baseline`.
 *
 * What is kept in bw_meta, and why it leaks nothing: per key, the masked
 * value (secrets appear as the mask, never in clear) and a keyed MAC of the
 * unmasked value (bw_keyring_mac, purpose "config"), so that a changed
 * secret is detected without its value ever being stored. The event and the
 * new record commit in one transaction.
 */
#include "audit/audit.h"
#include "cli/cli_int.h"
#include "crypto/crypto.h"
#include "store/store.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>

#define META_KEY "config.effective"

/* "section.key" -> {"v": masked value, "m": hex MAC of the clear value} */
static enum bw_rc snapshot(const struct bw_config *cfg, const struct bw_keyring *kr,
                           json_t **out)
{
    struct bw_buf clear, masked;
    bw_buf_init(&clear, 1 << 20);
    bw_buf_init(&masked, 1 << 20);
    enum bw_rc rc = bw_config_render(cfg, false, &clear);
    if (rc == BW_OK)
        rc = bw_config_render(cfg, true, &masked);
    if (rc == BW_OK)
        rc = bw_buf_append(&clear, "", 1); /* NUL-terminate both */
    if (rc == BW_OK)
        rc = bw_buf_append(&masked, "", 1);
    json_t *o = rc == BW_OK ? json_object() : NULL;
    if (rc == BW_OK && o == NULL)
        rc = BW_ERR_NOMEM;
    /* both renderings list the same keys in the same order, one per line */
    char section[64] = "";
    const char *c = clear.data, *m = masked.data;
    while (rc == BW_OK && *c != '\0' && *m != '\0') {
        size_t cl = strcspn(c, "\n"), ml = strcspn(m, "\n");
        if (cl > 2 && c[0] == '[' && c[cl - 1] == ']') {
            snprintf(section, sizeof(section), "%.*s", (int)(cl - 2), c + 1);
        } else if (cl > 0) {
            const char *ceq = memchr(c, '=', cl), *meq = memchr(m, '=', ml);
            if (ceq == NULL || meq == NULL) {
                rc = BW_ERR_INTERNAL;
                break;
            }
            size_t nlen = (size_t)(ceq - c);
            while (nlen > 0 && c[nlen - 1] == ' ')
                nlen--;
            char name[160], hex[2 * BW_MAC_BYTES + 1];
            uint8_t mac[BW_MAC_BYTES];
            snprintf(name, sizeof(name), "%s.%.*s", section, (int)nlen, c);
            const char *cv = ceq + 1 + (ceq[1] == ' ');
            const char *mv = meq + 1 + (meq[1] == ' ');
            rc = bw_keyring_mac(kr, "config", cv, (size_t)(c + cl - cv), mac);
            if (rc != BW_OK)
                break;
            sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
            json_t *e = json_pack("{s:s%, s:s}", "v", mv, (size_t)(m + ml - mv), "m", hex);
            if (e == NULL || json_object_set_new(o, name, e) != 0)
                rc = BW_ERR_NOMEM;
        }
        c += cl + (c[cl] == '\n');
        m += ml + (m[ml] == '\n');
    }
    bw_buf_free(&clear, true); /* held secrets in clear */
    bw_buf_free(&masked, false);
    if (rc != BW_OK) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return BW_OK;
}

/* [{key, old, new}] for every key added, removed or changed. */
static json_t *diff(json_t *old, json_t *now)
{
    json_t *changes = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(now, k, v) {
        json_t *was = json_object_get(old, k);
        if (was != NULL && json_equal(json_object_get(was, "m"), json_object_get(v, "m")))
            continue;
        json_array_append_new(changes,
                              json_pack("{s:s, s:O?, s:O}", "key", k,
                                        "old", was ? json_object_get(was, "v") : NULL, "new",
                                        json_object_get(v, "v")));
    }
    json_object_foreach(old, k, v) {
        if (json_object_get(now, k) == NULL)
            json_array_append_new(changes, json_pack("{s:s, s:O, s:n}", "key", k, "old",
                                                     json_object_get(v, "v"), "new"));
    }
    return changes;
}

struct cfg_job {
    json_t *now;
};

static enum bw_rc cfg_fn(struct bw_tx *tx, void *arg)
{
    struct cfg_job *j = arg;
    struct bw_buf prev;
    bw_buf_init(&prev, 1 << 20);
    enum bw_rc rc = bw_store_meta_get(tx, META_KEY, &prev);
    json_t *old = NULL;
    if (rc == BW_OK) {
        old = json_loadb(prev.data, prev.len, JSON_REJECT_DUPLICATES, NULL);
        if (old == NULL || !json_is_object(old)) { /* unreadable: report all as new */
            json_decref(old);
            old = json_object();
        }
    } else if (rc != BW_ERR_NOTFOUND) {
        bw_buf_free(&prev, false);
        return rc;
    }
    bw_buf_free(&prev, false);
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    if (old == NULL) {
        rc = bw_audit_append(tx, &ctx, "system", "config.baseline", "bulwark.conf",
                             BW_AUDIT_SUCCESS, json_pack("{s:i}", "keys",
                                                         (json_int_t)json_object_size(j->now)));
    } else {
        json_t *changes = diff(old, j->now);
        size_t n = json_array_size(changes);
        if (changes != NULL && n > 0)
            rc = bw_audit_append(tx, &ctx, "system", "config.changed", "bulwark.conf",
                                 BW_AUDIT_SUCCESS, json_pack("{s:o}", "changes", changes));
        else
            json_decref(changes);
        json_decref(old);
        if (n == 0)
            return rc; /* unchanged: nothing to record */
    }
    char *text = json_dumps(j->now, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return BW_ERR_NOMEM;
    if (rc == BW_OK)
        rc = bw_store_meta_put(tx, META_KEY, text);
    free(text);
    return rc;
}

enum bw_rc bw_cli_audit_config(struct bw_store *st, const struct bw_keyring *kr,
                               const struct bw_config *cfg)
{
    struct cfg_job j = {NULL};
    enum bw_rc rc = snapshot(cfg, kr, &j.now);
    if (rc == BW_OK)
        rc = bw_store_write(st, cfg_fn, &j);
    json_decref(j.now);
    return rc;
}
