/*
 * rbac.c - the one role -> permission matrix of Bulwark (CONTROL: AC-01,
 * AC-02) and the authorization check every organisation-scoped route runs.
 * docs/RBAC.md mirrors the table; tests/unit/tenant/test_rbac.c compares
 * the two cell by cell, so they cannot drift apart.
 *
 * Deny by default: a (role, permission) pair not listed here is refused,
 * BW_ROLE_NONE has no permission, and a permission added to enum bw_perm
 * without a row is granted to nobody. Trusts the store's membership rows;
 * never trusts an organisation id from the request beyond looking it up.
 */
#include "store/store.h"
#include "tenant/tenant.h"

#include <string.h>

static const char *const role_names[BW_ROLE__COUNT] = {
    [BW_ROLE_NONE] = "none",     [BW_ROLE_OWNER] = "owner",   [BW_ROLE_ADMIN] = "admin",
    [BW_ROLE_EDITOR] = "editor", [BW_ROLE_VIEWER] = "viewer", [BW_ROLE_AUDITOR] = "auditor",
};

#define O (1u << BW_ROLE_OWNER)
#define A (1u << BW_ROLE_ADMIN)
#define E (1u << BW_ROLE_EDITOR)
#define V (1u << BW_ROLE_VIEWER)
#define U (1u << BW_ROLE_AUDITOR)

/* The matrix. `admin`: an administrative action (AC-05: owners and admins
 * need a verified second factor). */
static const struct {
    const char *name;
    unsigned roles;
    bool admin;
} perms[BW_PERM__COUNT] = {
    [BW_PERM_ORG_READ] = {"org.read", O | A | E | V | U, false},
    [BW_PERM_ORG_MANAGE] = {"org.manage", O, true},
    [BW_PERM_MEMBER_READ] = {"member.read", O | A | U, false},
    [BW_PERM_MEMBER_MANAGE] = {"member.manage", O | A, true},
    [BW_PERM_APIKEY_MANAGE] = {"apikey.manage", O | A, true},
    [BW_PERM_COLLECTION_READ] = {"collection.read", O | A | E | V | U, false},
    [BW_PERM_COLLECTION_MANAGE] = {"collection.manage", O | A, true},
    [BW_PERM_RECORD_READ] = {"record.read", O | A | E | V, false},
    [BW_PERM_RECORD_WRITE] = {"record.write", O | A | E, false},
    [BW_PERM_RECORD_DELETE] = {"record.delete", O | A | E, false},
    [BW_PERM_RECORD_RESTORE] = {"record.restore", O | A, true},
    [BW_PERM_AUDIT_READ] = {"audit.read", O | A | U, false},
    [BW_PERM_EXPORT] = {"export", O, true},
};

#undef O
#undef A
#undef E
#undef V
#undef U

const char *bw_role_name(enum bw_role r)
{
    return (unsigned)r < BW_ROLE__COUNT ? role_names[r] : "none";
}

enum bw_rc bw_role_parse(const char *s, enum bw_role *out)
{
    for (unsigned r = BW_ROLE_OWNER; s != NULL && r < BW_ROLE__COUNT; r++) {
        if (strcmp(s, role_names[r]) == 0) {
            *out = (enum bw_role)r;
            return BW_OK;
        }
    }
    return BW_ERR_INVALID;
}

const char *bw_perm_name(enum bw_perm p)
{
    return (unsigned)p < BW_PERM__COUNT && perms[p].name != NULL ? perms[p].name : "unknown";
}

bool bw_role_allows(enum bw_role r, enum bw_perm p)
{
    if ((unsigned)p >= BW_PERM__COUNT || r <= BW_ROLE_NONE || r >= BW_ROLE__COUNT)
        return false;
    return (perms[p].roles & (1u << r)) != 0;
}

bool bw_perm_is_admin(enum bw_perm p)
{
    return (unsigned)p < BW_PERM__COUNT && perms[p].admin;
}

bool bw_role_apikey_ok(enum bw_role r)
{
    if (r <= BW_ROLE_NONE || r >= BW_ROLE__COUNT)
        return false;
    for (unsigned p = 0; p < BW_PERM__COUNT; p++) {
        if (perms[p].admin && (perms[p].roles & (1u << r)) != 0)
            return false;
    }
    return true;
}

/* ---- the check ---------------------------------------------------------------- */

static enum bw_rc role_row(void *arg, const struct bw_row *row)
{
    const char *t = bw_row_text(row, 0, NULL);
    enum bw_role r;
    if (t == NULL || bw_role_parse(t, &r) != BW_OK)
        return BW_ERR_STORE; /* the schema's CHECK makes this a broken row */
    *(enum bw_role *)arg = r;
    return BW_OK;
}

static enum bw_rc org_row(void *arg, const struct bw_row *row)
{
    *(bool *)arg = true;
    return BW_OK;
}

enum bw_rc bw_tenant_lock(struct bw_tx *tx, const char *org_id)
{
    bool found = false;
    if (org_id == NULL || !bw_id_valid(org_id))
        return BW_ERR_NOTFOUND;
    struct bw_val p[] = {BW_VTEXT(org_id)};
    enum bw_rc rc = bw_tx_query(tx, BW_STMT_ORG_LOCK, p, 1, org_row, &found);
    if (rc != BW_OK)
        return rc;
    return found ? BW_OK : BW_ERR_NOTFOUND;
}

/* The caller's role in the organisation: a member's row, or an API key's
 * own role inside its own organisation. BW_ROLE_NONE otherwise. */
static enum bw_rc role_of(struct bw_tx *tx, const struct bw_principal *p, const char *org_id,
                          enum bw_role *out)
{
    *out = BW_ROLE_NONE;
    if (p->apikey_id[0] != '\0') {
        bool found = false;
        struct bw_val q[] = {BW_VTEXT(org_id)};
        if (strcmp(p->apikey_org, org_id) != 0)
            return BW_OK;
        enum bw_rc rc = bw_tx_query(tx, BW_STMT_ORG_BY_ID, q, 1, org_row, &found);
        if (rc == BW_OK && found && bw_role_parse(p->apikey_role, out) != BW_OK)
            *out = BW_ROLE_NONE;
        return rc;
    }
    if (p->user_id[0] == '\0')
        return BW_OK;
    struct bw_val q[] = {BW_VTEXT(org_id), BW_VTEXT(p->user_id)};
    return bw_tx_query(tx, BW_STMT_MEMBER_ROLE, q, 2, role_row, out);
}

/* CONTROL: AC-01, AC-05 - membership first (404 for outsiders), then the
 * matrix (403), then the second factor for administrative actions. */
enum bw_rc bw_tenant_authorize(struct bw_tx *tx, const struct bw_config *cfg,
                               const struct bw_principal *p, const char *org_id,
                               enum bw_perm perm, struct bw_tenant_result *res)
{
    enum bw_role role = BW_ROLE_NONE;
    memset(res, 0, sizeof(*res));
    if (org_id == NULL || !bw_id_valid(org_id))
        return BW_ERR_NOTFOUND;
    enum bw_rc rc = role_of(tx, p, org_id, &role);
    if (rc != BW_OK)
        return rc;
    res->role = role;
    if (role == BW_ROLE_NONE)
        return BW_ERR_NOTFOUND;
    if (!bw_role_allows(role, perm))
        return BW_ERR_PERM;
    if (p->apikey_id[0] != '\0' && bw_perm_is_admin(perm))
        return BW_ERR_PERM; /* keys carry no admin role; belt and braces */
    if (bw_perm_is_admin(perm) && (role == BW_ROLE_OWNER || role == BW_ROLE_ADMIN) &&
        cfg->mfa_required_for_admins && !(p->mfa_enabled && p->mfa_verified)) {
        res->mfa_missing = true;
        return BW_ERR_PERM;
    }
    return BW_OK;
}
