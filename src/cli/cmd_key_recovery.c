/*
 * cmd_key_recovery.c - `bulwark key export-recovery` (issue 6: "prints a
 * recovery kit") and the recovery-kit half of `backup restore` on a new
 * machine. The kit is the master key and the audit-signing key sealed under
 * a passphrase (Argon2id + XSalsa20-Poly1305, src/crypto/keyring.c), with
 * comment lines saying what a restore needs (docs/RESTORE.md). The
 * passphrase comes from --passphrase-file or, on a terminal, a prompt
 * without echo (asked twice); it lives in sodium_malloc memory and is wiped.
 * Exporting is audited (key.recovery_exported); never the kit's text.
 *
 * Another branch adds `key rotate` (cmd_key.c): this file owns only the
 * export-recovery subcommand, registered as `key` while no other `key`
 * command exists; the merge makes bw_cmd_key dispatch to it.
 */
#include "audit/audit.h"
#include "cli/cli_int.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "sys/sys.h"

#include <jansson.h>
#include <sodium.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PASS_MAX 1024

/* Reads one line from the terminal without echo. */
static enum bw_rc prompt(const char *what, char *out, size_t cap, size_t *len)
{
    struct termios old, quiet;
    if (!isatty(0) || tcgetattr(0, &old) != 0)
        return BW_ERR_INVALID;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    fprintf(stderr, "%s: ", what);
    fflush(stderr);
    (void)tcsetattr(0, TCSAFLUSH, &quiet);
    size_t n = 0;
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        if (n + 1 < cap)
            out[n++] = (char)c;
    }
    (void)tcsetattr(0, TCSAFLUSH, &old);
    fputc('\n', stderr);
    *len = n;
    return BW_OK;
}

enum bw_rc bw_cli_read_passphrase(struct bw_cli *cli, const char *file, bool confirm,
                                  char **out, size_t *len)
{
    char why[512] = "";
    char *p = sodium_malloc(PASS_MAX + 1), *q = NULL;
    size_t n = 0, m = 0;
    enum bw_rc rc = p != NULL ? BW_OK : BW_ERR_NOMEM;
    if (rc == BW_OK && file != NULL) {
        rc = bw_sys_read_file(file, p, PASS_MAX, &n, false, why, sizeof(why));
        while (rc == BW_OK && n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
            n--;
        if (rc != BW_OK)
            bw_cli_error("%s", why);
    } else if (rc == BW_OK) {
        rc = prompt("recovery passphrase", p, PASS_MAX, &n);
        if (rc != BW_OK)
            (void)bw_cli_usage(cli, "give --passphrase-file F (no terminal to ask on)");
        if (rc == BW_OK && confirm && (q = sodium_malloc(PASS_MAX + 1)) == NULL)
            rc = BW_ERR_NOMEM;
        if (rc == BW_OK && confirm && (rc = prompt("again", q, PASS_MAX, &m)) == BW_OK &&
            (m != n || sodium_memcmp(p, q, n) != 0)) {
            bw_cli_error("the passphrases differ");
            rc = BW_ERR_INVALID;
        }
    }
    if (rc == BW_OK && n < BW_RECOVERY_PASSPHRASE_MIN) {
        bw_cli_error("the recovery passphrase needs at least %d characters",
                     BW_RECOVERY_PASSPHRASE_MIN);
        rc = BW_ERR_INVALID;
    }
    if (q != NULL)
        sodium_free(q);
    if (rc != BW_OK) {
        if (p != NULL)
            sodium_free(p);
        return rc;
    }
    p[n] = '\0';
    *out = p;
    *len = n;
    return BW_OK;
}

struct exported {
    const char *file;
};

static enum bw_rc audit_fn(struct bw_tx *tx, void *arg)
{
    struct exported *e = arg;
    struct bw_audit_ctx ctx = {.remote = "-", .request_id = "-"};
    return bw_audit_append(tx, &ctx, "cli", "key.recovery_exported", "master.key",
                           BW_AUDIT_SUCCESS,
                           json_pack("{s:s, s:s}", "to", e->file != NULL ? e->file : "stdout",
                                     "kdf", "argon2id"));
}

/* The kit document: comments for the operator, then the kit line. */
static enum bw_rc render_kit(const struct bw_config *cfg, const char *line, struct bw_buf *b)
{
    char now[21];
    bw_time_format(bw_time_now(), now);
    enum bw_rc rc = bw_buf_appendf(
        b,
        "# Bulwark recovery kit, created %s\n"
        "# The master key and the audit-signing key of this installation, sealed under a\n"
        "# passphrase (Argon2id + XSalsa20-Poly1305). Keep it offline, apart from the\n"
        "# backups and from the passphrase. With the backup target it is all a restore\n"
        "# on a new machine needs (docs/RESTORE.md):\n"
        "#   bulwark backup restore --to NEW_DIR --target %s \\\n"
        "#       --recovery-kit THIS_FILE --passphrase-file FILE\n"
        "# second target (off-site copy): %s\n"
        "# SFTP targets also need a client key authorised on the server and its host key.\n",
        now, cfg->backup_target, cfg->backup_copy_target[0] ? cfg->backup_copy_target : "none");
    if (rc == BW_OK)
        rc = bw_buf_appendf(b, "%s\n", line);
    return rc;
}

static enum bw_rc export_recovery(struct bw_cli *cli, int argc, char **argv)
{
    const char *pfile = NULL, *outfile = NULL;
    for (int i = 2; i < argc; i++) {
        int r;
        if ((r = bw_cli_take(argc, argv, &i, "--passphrase-file", &pfile)) != 0 ||
            (r = bw_cli_take(argc, argv, &i, "--output", &outfile)) != 0) {
            if (r < 0)
                return bw_cli_usage(cli, "option %s needs a value", argv[i]);
            continue;
        }
        return bw_cli_usage(cli, "unknown option '%s'", argv[i]);
    }
    struct bw_config cfg;
    struct bw_keyring *kr = NULL;
    struct bw_store *st = NULL;
    struct bw_buf doc;
    char keys[4096], why[512] = "", line[BW_RECOVERY_KIT_MAX];
    char *pass = NULL;
    size_t plen = 0;
    bw_buf_init(&doc, 1 << 16);
    enum bw_rc rc = bw_cli_load_config(cli, &cfg);
    if (rc != BW_OK)
        return rc;
    rc = bw_sys_path(keys, sizeof(keys), cli->data_dir, "keys");
    if (rc == BW_OK && (rc = bw_keyring_load(keys, &kr, why, sizeof(why))) != BW_OK)
        bw_cli_error("%s", why);
    if (rc == BW_OK)
        rc = bw_cli_open_store(cli, &cfg, 1, true, &st);
    if (rc == BW_OK)
        rc = bw_cli_read_passphrase(cli, pfile, true, &pass, &plen);
    if (rc == BW_OK && (rc = bw_keyring_recovery_export(kr, pass, plen, line, sizeof(line))) !=
                           BW_OK)
        bw_cli_error("cannot seal the recovery kit: %s", bw_rc_str(rc));
    if (rc == BW_OK)
        rc = render_kit(&cfg, line, &doc);
    if (rc == BW_OK && outfile != NULL &&
        (rc = bw_sys_write_private(outfile, doc.data, doc.len, false, why, sizeof(why))) !=
            BW_OK)
        bw_cli_error("%s", why);
    struct exported e = {outfile};
    if (rc == BW_OK && (rc = bw_store_write(st, audit_fn, &e)) != BW_OK)
        bw_cli_error("cannot record the export: %s", bw_rc_str(rc));
    if (rc == BW_OK && outfile == NULL)
        fwrite(doc.data, 1, doc.len, stdout);
    else if (rc == BW_OK)
        fprintf(stderr, "recovery kit written to %s (0600)\n", outfile);
    if (pass != NULL)
        sodium_free(pass);
    sodium_memzero(line, sizeof(line));
    bw_buf_free(&doc, true);
    bw_store_close(st);
    bw_keyring_free(kr);
    bw_config_cleanup(&cfg);
    return rc;
}

enum bw_rc bw_cmd_key_recovery(struct bw_cli *cli, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "export-recovery") != 0)
        return bw_cli_usage(cli, "key needs a subcommand (export-recovery)");
    return export_recovery(cli, argc, argv);
}
