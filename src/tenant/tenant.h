/*
 * tenant.h - organisations (tenants), memberships and role-based access
 * control (CONTROL: AC-01, AC-02, AC-05, G-06; SPEC 5 and 6.6).
 *
 * The role -> permission matrix is ONE table (rbac.c), mirrored in
 * docs/RBAC.md; anything it does not grant is denied. Every organisation-
 * scoped handler asks bw_tenant_authorize() inside its own transaction
 * before touching tenant data, so membership and the action are read from
 * the same snapshot. Another organisation's ids answer exactly like ids
 * that do not exist (BW_ERR_NOTFOUND -> 404): a caller learns nothing about
 * organisations it does not belong to.
 *
 * Platform administrators manage the installation, not customer data
 * (CONTROL: G-06): they are never members, create organisations only on
 * behalf of a named owner, and an account that belongs to an organisation
 * cannot be promoted to platform administrator.
 *
 * Ownership: every function borrows its arguments.
 */
#ifndef BW_TENANT_H
#define BW_TENANT_H

#include "auth/auth.h"
#include "core/core.h"

struct bw_store;
struct bw_tx;
struct bw_audit_ctx;

/* Roles inside one organisation (SPEC 5). BW_ROLE_NONE = not a member. */
enum bw_role {
    BW_ROLE_NONE,
    BW_ROLE_OWNER,
    BW_ROLE_ADMIN,
    BW_ROLE_EDITOR,
    BW_ROLE_VIEWER,
    BW_ROLE_AUDITOR,
    BW_ROLE__COUNT
};

/* Permissions. Append only: docs/RBAC.md and the tests index them by name. */
enum bw_perm {
    BW_PERM_ORG_READ,          /* org.read: see the organisation */
    BW_PERM_ORG_MANAGE,        /* org.manage: rename, delete the organisation */
    BW_PERM_MEMBER_READ,       /* member.read: list members */
    BW_PERM_MEMBER_MANAGE,     /* member.manage: add, remove, change roles */
    BW_PERM_APIKEY_MANAGE,     /* apikey.manage: create, list, revoke API keys */
    BW_PERM_COLLECTION_READ,   /* collection.read: see collection definitions */
    BW_PERM_COLLECTION_MANAGE, /* collection.manage: create/change collections */
    BW_PERM_RECORD_READ,       /* record.read */
    BW_PERM_RECORD_WRITE,      /* record.write: create, replace */
    BW_PERM_RECORD_DELETE,     /* record.delete: soft delete */
    BW_PERM_RECORD_RESTORE,    /* record.restore: undo a soft delete */
    BW_PERM_AUDIT_READ,        /* audit.read: the organisation's audit trail */
    BW_PERM_EXPORT,            /* export: the whole organisation as JSON (GDPR Art. 20) */
    BW_PERM__COUNT
};

#define BW_ROLE_NAME_MAX 16
#define BW_ORG_NAME_MAX 200 /* bytes of UTF-8 */

/* "owner", "admin", ... ; "none" for BW_ROLE_NONE. Never NULL. */
const char *bw_role_name(enum bw_role r);
/* Parses a member role name (owner..auditor); "none" and others are invalid. */
BW_MUST_CHECK enum bw_rc bw_role_parse(const char *s, enum bw_role *out);
/* "org.read", ... Never NULL. */
const char *bw_perm_name(enum bw_perm p);
/* The matrix: true only where rbac.c grants it (deny by default). */
bool bw_role_allows(enum bw_role r, enum bw_perm p);
/* Administrative permissions: owners and admins need a verified second
 * factor in the session to use them (CONTROL: AC-05). */
bool bw_perm_is_admin(enum bw_perm p);
/* Roles an API key may carry: those with no administrative permission
 * (an API key has no second factor). */
bool bw_role_apikey_ok(enum bw_role r);

/* ---- authorization -------------------------------------------------------- */

/* Why a call was refused, for the caller's answer (filled on every return). */
struct bw_tenant_result {
    enum bw_role role; /* the caller's role in the organisation (NONE if not a member) */
    bool mfa_missing;  /* BW_ERR_PERM only because the session lacks its second factor */
    bool no_user;      /* BW_ERR_NOTFOUND is about the named user, not the organisation */
    bool last_owner;   /* BW_ERR_CONFLICT: the change would leave no owner */
    bool owner_only;   /* BW_ERR_PERM: only owners grant, change or remove owners */
    bool admin_member; /* BW_ERR_CONFLICT: platform admins cannot be members (G-06) */
};

/* Within a transaction: may principal `p` use `perm` in organisation
 * `org_id`? BW_OK when the matrix grants it. BW_ERR_NOTFOUND when the
 * organisation does not exist, is deleted, `org_id` is malformed, the user
 * is not a member or an API key belongs to another organisation - one
 * answer for all, so ids of other tenants look like random ids (SPEC 6.6).
 * BW_ERR_PERM for a member lacking the permission, or (res->mfa_missing)
 * an owner/admin without a verified second factor using an administrative
 * permission while mfa.required_for_admins is on. */
BW_MUST_CHECK enum bw_rc bw_tenant_authorize(struct bw_tx *tx, const struct bw_config *cfg,
                                             const struct bw_principal *p, const char *org_id,
                                             enum bw_perm perm, struct bw_tenant_result *res);
/* Within a write transaction: holds the organisation's row until commit so
 * that membership changes of one organisation are serialised (the last-owner
 * rule holds under concurrency). BW_ERR_NOTFOUND like bw_tenant_authorize. */
BW_MUST_CHECK enum bw_rc bw_tenant_lock(struct bw_tx *tx, const char *org_id);

/* ---- organisations and memberships (org.c) ------------------------------- */

struct bw_org {
    char id[BW_ID_LEN + 1];
    char name[BW_ORG_NAME_MAX + 1];
    int64_t created_at;
};

/* Within a transaction: a live organisation. BW_ERR_NOTFOUND otherwise. */
BW_MUST_CHECK enum bw_rc bw_org_get(struct bw_tx *tx, const char *org_id, struct bw_org *out);

/* Creates an organisation whose first owner is `owner_email` (or, when
 * NULL, the calling user). `p` NULL means the command line (actor "cli").
 * Audited org.created + member.added in one transaction. BW_ERR_INVALID for
 * a bad name; BW_ERR_NOTFOUND (res->no_user) for an unknown owner;
 * BW_ERR_CONFLICT (res->admin_member) when the owner is a platform admin. */
BW_MUST_CHECK enum bw_rc bw_org_create(struct bw_store *st, const struct bw_audit_ctx *ctx,
                                       const struct bw_principal *p, const char *name,
                                       const char *owner_email, struct bw_org *out,
                                       struct bw_tenant_result *res);

/* Adds the user with e-mail `email` to the organisation with `role`, or
 * changes the role of a member (audited member.added / member.role_changed;
 * *created says which; an unchanged role writes nothing). `p` NULL = the
 * command line, which skips the permission check. Refused: non-owners
 * touching the owner role (BW_ERR_PERM, res->owner_only), demoting the last
 * owner (BW_ERR_CONFLICT, res->last_owner), platform admins as members
 * (BW_ERR_CONFLICT, res->admin_member), unknown users (BW_ERR_NOTFOUND,
 * res->no_user). */
BW_MUST_CHECK enum bw_rc bw_member_set(struct bw_store *st, const struct bw_config *cfg,
                                       const struct bw_audit_ctx *ctx,
                                       const struct bw_principal *p, const char *org_id,
                                       const char *email, enum bw_role role, bool *created,
                                       struct bw_tenant_result *res);
/* Removes member `user_id` (audited member.removed). BW_ERR_NOTFOUND
 * (res->no_user) when not a member; the last owner stays (BW_ERR_CONFLICT,
 * res->last_owner); only owners remove owners (BW_ERR_PERM, res->owner_only). */
BW_MUST_CHECK enum bw_rc bw_member_remove(struct bw_store *st, const struct bw_config *cfg,
                                          const struct bw_audit_ctx *ctx,
                                          const struct bw_principal *p, const char *org_id,
                                          const char *user_id, struct bw_tenant_result *res);
/* Within a transaction: the members as a JSON array of {user_id,email,role,
 * created_at} (new reference). */
BW_MUST_CHECK enum bw_rc bw_member_list(struct bw_tx *tx, const char *org_id,
                                        struct json_t **out);
/* Within a transaction: the live organisations of a user as a JSON array of
 * {id,name,created_at,role} (new reference). */
BW_MUST_CHECK enum bw_rc bw_org_list_user(struct bw_tx *tx, const char *user_id,
                                          struct json_t **out);
/* Platform-admin flag of the user `email`, set by `actor` (audited
 * user.role_changed). Promotion is refused for a user who belongs to any
 * organisation (BW_ERR_CONFLICT, CONTROL: G-06). */
BW_MUST_CHECK enum bw_rc bw_user_set_platform_admin(struct bw_store *st,
                                                    const struct bw_audit_ctx *ctx,
                                                    const char *actor, const char *email,
                                                    bool on);

/* Within a transaction: every live organisation as a JSON array of
 * {id,name,created_at} (new reference; the command line). */
BW_MUST_CHECK enum bw_rc bw_org_list_all(struct bw_tx *tx, struct json_t **out);

#endif
