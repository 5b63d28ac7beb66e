/*
 * password.c - the password policy (CONTROL: AUTH-01, AUTH-03, decision C2)
 * and Argon2id hashing (CONTROL: AUTH-05).
 *
 * Policy: length is counted in Unicode code points, never bytes, and no
 * password is ever truncated; composition rules apply only to the `policy`
 * profile; both profiles refuse dictionary/common passwords (libpwquality +
 * cracklib) and passwords containing the e-mail's local part.
 * Hashing: crypto_pwhash_str (Argon2id) at m=19 MiB, t=2, p=1 or stronger,
 * at most `slots` hashes at a time so that a flood of logins cannot use more
 * than the cores and the memory we planned for. Also generates the random
 * initial passwords administrators issue (CONTROL: G-08).
 * Never: log a password, copy it outside sodium_malloc memory, or say in an
 * error message what the password was.
 */
#include "auth/auth.h"
#include "sys/sys.h"

#include <pthread.h>
#include <pwquality.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static unsigned pool_slots = 2;
static unsigned pool_busy;

void bw_password_policy_from_config(const struct bw_config *cfg, struct bw_password_policy *p)
{
    p->modern = strcmp(cfg->password_profile, "modern") == 0;
    p->min_length = cfg->password_min_length;
    p->require_upper = !p->modern && cfg->password_require_upper;
    p->require_lower = !p->modern && cfg->password_require_lower;
    p->require_digit = !p->modern && cfg->password_require_digit;
    p->reject_common = cfg->password_reject_common;
    if (p->modern && p->min_length < 15)
        p->min_length = 15; /* NIST 800-63B / ASVS 5 for single-factor passwords */
}

static void add_error(struct bw_password_errors *e, const char *msg)
{
    if (e->n < BW_PW_MAX_ERRORS)
        e->msg[e->n++] = msg;
}

/* Counts code points of valid UTF-8 and the character classes present. */
static size_t count_chars(const char *pw, size_t len, bool *upper, bool *lower, bool *digit)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pw[i];
        if ((c & 0xC0) != 0x80)
            n++;
        *upper |= c >= 'A' && c <= 'Z';
        *lower |= c >= 'a' && c <= 'z';
        *digit |= c >= '0' && c <= '9';
    }
    return n;
}

/* True when the e-mail's local part (3+ characters) occurs in pw, ignoring case. */
static bool contains_local_part(const char *pw, size_t len, const char *email)
{
    const char *at = email != NULL ? strchr(email, '@') : NULL;
    size_t ll = at != NULL ? (size_t)(at - email) : 0;
    if (ll < 3 || ll > len)
        return false;
    for (size_t i = 0; i + ll <= len; i++) {
        if (strncasecmp(pw + i, email, ll) == 0)
            return true;
    }
    return false;
}

/* libpwquality's dictionary and similarity checks only; our own rules cover
 * length and composition so that both profiles share one implementation. */
static bool is_common(const char *pw, size_t len)
{
    bool common = false;
    void *aux = NULL;
    char *copy = sodium_malloc(len + 1);
    pwquality_settings_t *pwq = pwquality_default_settings();
    if (copy == NULL || pwq == NULL) {
        common = true; /* fail closed */
        goto out;
    }
    memcpy(copy, pw, len);
    copy[len] = '\0';
    pwquality_set_int_value(pwq, PWQ_SETTING_MIN_LENGTH, 6);
    pwquality_set_int_value(pwq, PWQ_SETTING_DICT_CHECK, 1);
    pwquality_set_int_value(pwq, PWQ_SETTING_MIN_CLASS, 0);
    pwquality_set_int_value(pwq, PWQ_SETTING_MAX_REPEAT, 0);
    pwquality_set_int_value(pwq, PWQ_SETTING_MAX_SEQUENCE, 0);
    pwquality_set_int_value(pwq, PWQ_SETTING_MAX_CLASS_REPEAT, 0);
    pwquality_set_int_value(pwq, PWQ_SETTING_GECOS_CHECK, 0);
    int r = pwquality_check(pwq, copy, NULL, NULL, &aux);
    common = r == PWQ_ERROR_CRACKLIB_CHECK || r == PWQ_ERROR_PALINDROME ||
             r == PWQ_ERROR_ROTATED || r == PWQ_ERROR_CASE_CHANGES_ONLY;
out:
    /* aux is cracklib's static message or an integer, never to be freed */
    pwquality_free_settings(pwq);
    sodium_free(copy);
    return common;
}

enum bw_rc bw_password_check(const struct bw_password_policy *p, const char *pw, size_t len,
                             const char *email, struct bw_password_errors *errors)
{
    bool upper = false, lower = false, digit = false;
    errors->n = 0;
    if (len > BW_PASSWORD_MAX_BYTES) {
        add_error(errors, "password is longer than 1024 bytes");
        return BW_ERR_INVALID;
    }
    if (!bw_utf8_valid(pw, len) || memchr(pw, '\0', len) != NULL) {
        add_error(errors, "password must be valid UTF-8 without NUL characters");
        return BW_ERR_INVALID;
    }
    size_t chars = count_chars(pw, len, &upper, &lower, &digit);
    if (chars < p->min_length)
        add_error(errors, p->modern ? "password must have at least 15 characters"
                                    : "password is shorter than the policy's minimum length");
    if (p->require_upper && !upper)
        add_error(errors, "password needs an upper-case letter");
    if (p->require_lower && !lower)
        add_error(errors, "password needs a lower-case letter");
    if (p->require_digit && !digit)
        add_error(errors, "password needs a digit");
    if (contains_local_part(pw, len, email))
        add_error(errors, "password must not contain the e-mail address");
    if (errors->n == 0 && p->reject_common && is_common(pw, len))
        add_error(errors, "password is too common or based on a dictionary word");
    return errors->n == 0 ? BW_OK : BW_ERR_INVALID;
}

/* ---- hashing pool ---------------------------------------------------------- */

void bw_pwhash_init(unsigned slots)
{
    pthread_mutex_lock(&pool_mu);
    pool_slots = slots > 0 ? slots : bw_sys_ncpu();
    pthread_mutex_unlock(&pool_mu);
}

static void slot_take(void)
{
    pthread_mutex_lock(&pool_mu);
    while (pool_busy >= pool_slots)
        pthread_cond_wait(&pool_cv, &pool_mu);
    pool_busy++;
    pthread_mutex_unlock(&pool_mu);
}

static void slot_give(void)
{
    pthread_mutex_lock(&pool_mu);
    pool_busy--;
    pthread_cond_signal(&pool_cv);
    pthread_mutex_unlock(&pool_mu);
}

enum bw_rc bw_pwhash(const char *pw, size_t len, char out[BW_PWHASH_STRBYTES])
{
    if (len > BW_PASSWORD_MAX_BYTES)
        return BW_ERR_TOOBIG;
    slot_take();
    int r = crypto_pwhash_str(out, pw, len, BW_PWHASH_OPSLIMIT, BW_PWHASH_MEMLIMIT);
    slot_give();
    return r == 0 ? BW_OK : BW_ERR_NOMEM;
}

enum bw_rc bw_pwhash_verify(const char *stored, const char *pw, size_t len, bool *rehash)
{
    if (len > BW_PASSWORD_MAX_BYTES)
        return BW_ERR_PERM;
    slot_take();
    int r = crypto_pwhash_str_verify(stored, pw, len);
    slot_give();
    if (r != 0)
        return BW_ERR_PERM;
    *rehash = crypto_pwhash_str_needs_rehash(stored, BW_PWHASH_OPSLIMIT, BW_PWHASH_MEMLIMIT) != 0;
    return BW_OK;
}

void bw_pwhash_dummy(const char *pw, size_t len)
{
    static char dummy[BW_PWHASH_STRBYTES];
    static bool ready;
    bool rehash;
    pthread_mutex_lock(&pool_mu);
    if (!ready) {
        pthread_mutex_unlock(&pool_mu);
        char tmp[BW_PWHASH_STRBYTES];
        if (bw_pwhash("bulwark-dummy-password", 22, tmp) != BW_OK)
            return;
        pthread_mutex_lock(&pool_mu);
        memcpy(dummy, tmp, sizeof(dummy));
        ready = true;
    }
    pthread_mutex_unlock(&pool_mu);
    (void)!bw_pwhash_verify(dummy, pw, len, &rehash);
}

static void generate_once(char out[BW_PASSWORD_GEN_LEN + 1])
{
    static const char set[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    for (int i = 0; i < BW_PASSWORD_GEN_LEN; i++)
        out[i] = set[randombytes_uniform(sizeof(set) - 1)];
    /* one of each class at a random position: upper (24), lower (25), digit (8) */
    uint32_t a = randombytes_uniform(BW_PASSWORD_GEN_LEN);
    uint32_t b = (a + 1 + randombytes_uniform(BW_PASSWORD_GEN_LEN - 1)) % BW_PASSWORD_GEN_LEN;
    uint32_t c = a;
    while (c == a || c == b)
        c = randombytes_uniform(BW_PASSWORD_GEN_LEN);
    out[a] = set[randombytes_uniform(24)];
    out[b] = set[24 + randombytes_uniform(25)];
    out[c] = set[49 + randombytes_uniform(8)];
    out[BW_PASSWORD_GEN_LEN] = '\0';
}

void bw_password_generate(char out[BW_PASSWORD_GEN_LEN + 1])
{
    /* cracklib calls a few random strings "too systematic": draw again, so a
     * generated password always passes the policy it will be checked against */
    int tries = 0;
    do
        generate_once(out);
    while (++tries < 16 && is_common(out, BW_PASSWORD_GEN_LEN));
}
