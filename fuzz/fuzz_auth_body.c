/*
 * fuzz_auth_body.c - the login and MFA request bodies (identity issue: "a
 * fuzz harness covers the login/enrolment JSON"). The input is a request
 * body; it goes through the server's JSON checks and then through the same
 * member validation the login, password and MFA handlers apply, then the
 * e-mail normaliser and the password policy (composition and length only:
 * the dictionary check reads files and adds nothing here).
 * Properties: field errors are bounded, one line and NUL-terminated; an
 * accepted body has string members within their caps; a normalised e-mail is
 * lower case with exactly one '@' and no whitespace; policy messages are
 * fixed texts, never built from the password.
 */
#include "fuzz_util.h"

#include "auth/auth.h"
#include "http/http_int.h"

#include <ctype.h>

static void check_errors(const struct bw_field_errors *fe)
{
    FUZZ_CHECK(fe->n <= BW_MAX_FIELD_ERRORS);
    for (size_t i = 0; i < fe->n; i++) {
        FUZZ_CHECK(memchr(fe->e[i].field, '\0', sizeof(fe->e[i].field)) != NULL);
        FUZZ_CHECK(memchr(fe->e[i].message, '\0', sizeof(fe->e[i].message)) != NULL);
        FUZZ_CHECK(strchr(fe->e[i].field, '\n') == NULL);
    }
}

static void check_email(const char *email)
{
    char norm[BW_EMAIL_MAX + 1];
    if (bw_email_normalize(email, norm) != BW_OK)
        return;
    const char *at = strchr(norm, '@');
    FUZZ_CHECK(at != NULL && strchr(at + 1, '@') == NULL && at != norm && at[1] != '\0');
    for (const char *p = norm; *p != '\0'; p++)
        FUZZ_CHECK(!isupper((unsigned char)*p) && !isspace((unsigned char)*p));
    char again[BW_EMAIL_MAX + 1];
    FUZZ_CHECK(bw_email_normalize(norm, again) == BW_OK && strcmp(again, norm) == 0);
}

static void check_password(const char *pw, size_t len, const char *email)
{
    static const struct bw_password_policy pol = {false, 8, true, true, true, false};
    struct bw_password_errors pe;
    enum bw_rc rc = bw_password_check(&pol, pw, len, email, &pe);
    FUZZ_CHECK((rc == BW_OK) == (pe.n == 0));
    /* messages are fixed ASCII texts, never built from the password */
    for (size_t i = 0; i < pe.n; i++) {
        const char *m = pe.msg[i];
        FUZZ_CHECK(m < pw || m > pw + len);
        FUZZ_CHECK(strlen(m) < 128);
        for (const char *q = m; *q != '\0'; q++)
            FUZZ_CHECK((unsigned char)*q >= 0x20 && (unsigned char)*q < 0x7f && *q != '"');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const login[] = {"email", "password"};
    static const char *const change[] = {"current", "new"};
    static const char *const code[] = {"code"};
    json_t *body = NULL;
    int status = 0;
    char detail[160];
    if (bw_http_parse_json("application/json", (const char *)data, size, &body, &status, detail,
                           sizeof(detail)) != BW_OK)
        return 0;
    struct bw_field_errors fe = {.n = 0};
    size_t elen = 0, plen = 0, clen = 0;
    bw_body_only(body, login, 2, &fe);
    const char *email = bw_body_string(body, "email", BW_EMAIL_MAX, &elen, &fe);
    const char *pw = bw_body_string(body, "password", BW_PASSWORD_MAX_BYTES, &plen, &fe);
    check_errors(&fe);
    if (email != NULL) {
        FUZZ_CHECK(elen <= BW_EMAIL_MAX && strlen(email) == elen);
        check_email(email);
    }
    if (pw != NULL) {
        FUZZ_CHECK(plen <= BW_PASSWORD_MAX_BYTES);
        check_password(pw, plen, email != NULL ? email : "x@example.com");
    }
    struct bw_field_errors fe2 = {.n = 0};
    bw_body_only(body, change, 2, &fe2);
    (void)bw_body_string(body, "new", BW_PASSWORD_MAX_BYTES, &plen, &fe2);
    check_errors(&fe2);
    struct bw_field_errors fe3 = {.n = 0};
    bw_body_only(body, code, 1, &fe3);
    const char *c = bw_body_string(body, "code", 32, &clen, &fe3);
    FUZZ_CHECK(c == NULL || clen <= 32);
    check_errors(&fe3);
    json_decref(body);
    return 0;
}
