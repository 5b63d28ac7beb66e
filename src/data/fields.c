/*
 * fields.c - field definitions of collections and validation of record
 * bodies against them (CONTROL: APP-01, DATA-01, DATA-08). Pure: no I/O, no
 * store, no keys; fuzzed by fuzz/fuzz_fields.c and fuzz/fuzz_record.c.
 *
 * Trusts nothing of its input: definitions and bodies are client JSON that
 * already passed the server's framing checks (UTF-8, depth, duplicate keys).
 * Never copies a value into an error message - messages are fixed texts
 * and the field's (validated) name, so a record's content cannot leak
 * through a 400 answer or a log line.
 */
#include "data/data.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const class_names[] = {"public", "internal", "confidential", "restricted"};
static const char *const type_names[] = {"string", "text",     "integer", "number", "boolean",
                                         "date",   "datetime", "email",   "enum",   "json"};

void bw_data_error(struct bw_data_errors *de, const char *field, const char *message)
{
    if (de->n >= BW_DATA_ERRORS_MAX)
        return;
    snprintf(de->e[de->n].field, sizeof(de->e[de->n].field), "%s", field);
    snprintf(de->e[de->n].message, sizeof(de->e[de->n].message), "%s", message);
    de->n++;
}

const char *bw_class_name(enum bw_class c)
{
    return (unsigned)c < BW_ARRAY_LEN(class_names) ? class_names[c] : "confidential";
}

enum bw_rc bw_class_parse(const char *s, enum bw_class *out)
{
    for (size_t i = 0; s != NULL && i < BW_ARRAY_LEN(class_names); i++) {
        if (strcmp(s, class_names[i]) == 0) {
            *out = (enum bw_class)i;
            return BW_OK;
        }
    }
    return BW_ERR_INVALID;
}

const char *bw_ftype_name(enum bw_ftype t)
{
    return (unsigned)t < BW_ARRAY_LEN(type_names) ? type_names[t] : "string";
}

static enum bw_rc ftype_parse(const char *s, enum bw_ftype *out)
{
    for (size_t i = 0; s != NULL && i < BW_ARRAY_LEN(type_names); i++) {
        if (strcmp(s, type_names[i]) == 0) {
            *out = (enum bw_ftype)i;
            return BW_OK;
        }
    }
    return BW_ERR_INVALID;
}

bool bw_name_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > BW_NAME_MAX || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* ---- definitions -------------------------------------------------------------- */

static void field_cleanup(struct bw_field *f)
{
    for (size_t i = 0; f->values != NULL && i < f->nvalues; i++)
        bw_free(f->values[i]);
    bw_free(f->values);
    f->values = NULL;
    f->nvalues = 0;
}

void bw_schema_free(struct bw_schema *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        field_cleanup(&s->f[i]);
    bw_free(s->f);
    bw_free(s);
}

const struct bw_field *bw_schema_find(const struct bw_schema *s, const char *name)
{
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        if (strcmp(s->f[i].name, name) == 0)
            return &s->f[i];
    }
    return NULL;
}

static bool is_member(const char *key, const char *const *allowed, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(key, allowed[i]) == 0)
            return true;
    }
    return false;
}

/* A finite JSON number as a double. */
static bool number_of(const json_t *v, double *out)
{
    if (!json_is_number(v))
        return false;
    double d = json_number_value(v);
    if (!isfinite(d))
        return false;
    *out = d;
    return true;
}

static enum bw_rc parse_values(const json_t *vals, struct bw_field *f, const char *label,
                               struct bw_data_errors *de)
{
    size_t n = json_array_size(vals);
    if (!json_is_array(vals) || n == 0 || n > BW_ENUM_VALUES_MAX) {
        bw_data_error(de, label, "values: an array of 1 to 64 strings");
        return BW_ERR_INVALID;
    }
    f->values = bw_calloc(n, sizeof(char *));
    if (f->values == NULL)
        return BW_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(vals, i);
        size_t len = json_string_length(v);
        if (!json_is_string(v) || len == 0 || len > BW_ENUM_VALUE_MAX ||
            strlen(json_string_value(v)) != len) {
            bw_data_error(de, label, "values: strings of 1 to 128 bytes without NUL");
            return BW_ERR_INVALID;
        }
        for (size_t j = 0; j < f->nvalues; j++) {
            if (strcmp(f->values[j], json_string_value(v)) == 0) {
                bw_data_error(de, label, "values: duplicate value");
                return BW_ERR_INVALID;
            }
        }
        f->values[i] = bw_strdup(json_string_value(v));
        if (f->values[i] == NULL)
            return BW_ERR_NOMEM;
        f->nvalues = i + 1;
    }
    return BW_OK;
}

/* The limits (max_length, min, max) a field's type allows. */
static enum bw_rc parse_limits(const json_t *def, struct bw_field *f, const char *label,
                               struct bw_data_errors *de)
{
    const json_t *ml = json_object_get(def, "max_length");
    const json_t *mn = json_object_get(def, "min");
    const json_t *mx = json_object_get(def, "max");
    bool textual = f->type == BW_FT_STRING || f->type == BW_FT_TEXT || f->type == BW_FT_JSON;
    bool numeric = f->type == BW_FT_INTEGER || f->type == BW_FT_NUMBER;
    if (ml != NULL) {
        json_int_t v = json_integer_value(ml);
        if (!textual || !json_is_integer(ml) || v < 1 || (uint64_t)v > BW_LENGTH_MAX) {
            bw_data_error(de, label, "max_length: an integer 1..1048576 for string, text, json");
            return BW_ERR_INVALID;
        }
        f->has_max_length = true;
        f->max_length = (uint64_t)v;
    }
    if ((mn != NULL || mx != NULL) && !numeric) {
        bw_data_error(de, label, "min/max only apply to integer and number fields");
        return BW_ERR_INVALID;
    }
    if ((mn != NULL && !number_of(mn, &f->min)) || (mx != NULL && !number_of(mx, &f->max)) ||
        (f->type == BW_FT_INTEGER && ((mn != NULL && !json_is_integer(mn)) ||
                                      (mx != NULL && !json_is_integer(mx))))) {
        bw_data_error(de, label, "min/max: numbers of the field's type");
        return BW_ERR_INVALID;
    }
    f->has_min = mn != NULL;
    f->has_max = mx != NULL;
    if (f->has_min && f->has_max && f->min > f->max) {
        bw_data_error(de, label, "min is greater than max");
        return BW_ERR_INVALID;
    }
    return BW_OK;
}

static enum bw_rc parse_field(const json_t *def, struct bw_field *f, const char *label,
                              struct bw_data_errors *de)
{
    static const char *const allowed[] = {"name", "type",     "required", "max_length",
                                          "min",  "max",      "values"};
    const char *key;
    const json_t *v;
    if (!json_is_object(def)) {
        bw_data_error(de, label, "each field is an object {name,type,...}");
        return BW_ERR_INVALID;
    }
    json_object_foreach((json_t *)def, key, v)
    {
        if (!is_member(key, allowed, BW_ARRAY_LEN(allowed))) {
            bw_data_error(de, label, "unknown member in field definition");
            return BW_ERR_INVALID;
        }
    }
    const char *name = json_string_value(json_object_get(def, "name"));
    if (name == NULL || !bw_name_valid(name)) {
        bw_data_error(de, label, "name: [a-z][a-z0-9_]{0,63}");
        return BW_ERR_INVALID;
    }
    memcpy(f->name, name, strlen(name) + 1);
    if (ftype_parse(json_string_value(json_object_get(def, "type")), &f->type) != BW_OK) {
        bw_data_error(de, label,
                      "type: string, text, integer, number, boolean, date, datetime, email, "
                      "enum or json");
        return BW_ERR_INVALID;
    }
    const json_t *req = json_object_get(def, "required");
    if (req != NULL && !json_is_boolean(req)) {
        bw_data_error(de, label, "required: true or false");
        return BW_ERR_INVALID;
    }
    f->required = json_is_true(req);
    enum bw_rc rc = parse_limits(def, f, label, de);
    if (rc != BW_OK)
        return rc;
    const json_t *vals = json_object_get(def, "values");
    if ((f->type == BW_FT_ENUM) != (vals != NULL)) {
        bw_data_error(de, label, "values: required for enum fields, only for them");
        return BW_ERR_INVALID;
    }
    return vals != NULL ? parse_values(vals, f, label, de) : BW_OK;
}

enum bw_rc bw_schema_parse(const json_t *fields, struct bw_schema **out,
                           struct bw_data_errors *de)
{
    enum bw_rc rc = BW_ERR_INVALID;
    size_t n = json_array_size(fields);
    if (!json_is_array(fields) || n > BW_FIELDS_MAX) {
        bw_data_error(de, "fields", "an array of at most 64 field definitions");
        return BW_ERR_INVALID;
    }
    struct bw_schema *s = bw_calloc(1, sizeof(*s));
    if (s == NULL)
        return BW_ERR_NOMEM;
    s->f = bw_calloc(n > 0 ? n : 1, sizeof(struct bw_field));
    if (s->f == NULL) {
        rc = BW_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char label[32];
        snprintf(label, sizeof(label), "fields[%zu]", i);
        s->n = i + 1;
        rc = parse_field(json_array_get(fields, i), &s->f[i], label, de);
        if (rc != BW_OK)
            goto out;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s->f[j].name, s->f[i].name) == 0) {
                bw_data_error(de, label, "name: duplicate field name");
                rc = BW_ERR_INVALID;
                goto out;
            }
        }
    }
    rc = BW_OK;
out:
    if (rc != BW_OK) {
        bw_schema_free(s);
        return rc;
    }
    *out = s;
    return BW_OK;
}

json_t *bw_schema_json(const struct bw_schema *s)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < s->n; i++) {
        const struct bw_field *f = &s->f[i];
        json_t *o = json_pack("{s:s, s:s}", "name", f->name, "type", bw_ftype_name(f->type));
        if (o == NULL)
            goto fail;
        if (f->required)
            json_object_set_new(o, "required", json_true());
        if (f->has_max_length)
            json_object_set_new(o, "max_length", json_integer((json_int_t)f->max_length));
        if (f->has_min)
            json_object_set_new(o, "min", f->type == BW_FT_INTEGER
                                              ? json_integer((json_int_t)f->min)
                                              : json_real(f->min));
        if (f->has_max)
            json_object_set_new(o, "max", f->type == BW_FT_INTEGER
                                              ? json_integer((json_int_t)f->max)
                                              : json_real(f->max));
        if (f->type == BW_FT_ENUM) {
            json_t *vals = json_array();
            for (size_t j = 0; vals != NULL && j < f->nvalues; j++)
                json_array_append_new(vals, json_string(f->values[j]));
            json_object_set_new(o, "values", vals);
        }
        if (json_array_append_new(arr, o) != 0)
            goto fail;
    }
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

/* ---- values ------------------------------------------------------------------- */

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* "YYYY-MM-DD", a real calendar day of years 0001..9999. */
static bool date_valid(const char *s, size_t len)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (len != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) ||
        !digits(s + 8, 2))
        return false;
    int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(m == 2 && d == 29 && !leap);
}

static bool datetime_valid(const char *s, size_t len)
{
    int64_t t;
    return len >= 20 && len <= 40 && date_valid(s, 10) && bw_time_parse(s, &t) == BW_OK;
}

static uint64_t max_len(const struct bw_field *f)
{
    if (f->has_max_length)
        return f->max_length;
    if (f->type == BW_FT_STRING || f->type == BW_FT_ENUM)
        return BW_STRING_DEFAULT;
    if (f->type == BW_FT_EMAIL)
        return BW_EMAIL_MAX;
    return BW_TEXT_DEFAULT;
}

static bool in_range(const struct bw_field *f, double d)
{
    return !(f->has_min && d < f->min) && !(f->has_max && d > f->max);
}

/* Checks one value; the message explains what the field accepts. */
static const char *check_value(const struct bw_field *f, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    double d = 0;
    switch (f->type) {
    case BW_FT_STRING:
    case BW_FT_TEXT:
        if (!json_is_string(v) || strlen(s) != len)
            return "must be a string without NUL characters";
        if (f->type == BW_FT_STRING && strpbrk(s, "\r\n") != NULL)
            return "must be one line (use a text field for several)";
        return len > max_len(f) ? "is longer than max_length" : NULL;
    case BW_FT_EMAIL: {
        char norm[BW_EMAIL_MAX + 1];
        if (!json_is_string(v) || len > BW_EMAIL_MAX || strlen(s) != len ||
            bw_email_normalize(s, norm) != BW_OK)
            return "must be an e-mail address";
        return NULL;
    }
    case BW_FT_INTEGER:
        if (!json_is_integer(v))
            return "must be an integer";
        return in_range(f, (double)json_integer_value(v)) ? NULL : "is out of range (min/max)";
    case BW_FT_NUMBER:
        if (!number_of(v, &d))
            return "must be a number";
        return in_range(f, d) ? NULL : "is out of range (min/max)";
    case BW_FT_BOOLEAN:
        return json_is_boolean(v) ? NULL : "must be true or false";
    case BW_FT_DATE:
        return json_is_string(v) && date_valid(s, len) ? NULL : "must be a date YYYY-MM-DD";
    case BW_FT_DATETIME:
        return json_is_string(v) && datetime_valid(s, len)
                   ? NULL
                   : "must be an RFC 3339 UTC date-time (2026-01-31T12:00:00Z)";
    case BW_FT_ENUM:
        for (size_t i = 0; json_is_string(v) && i < f->nvalues; i++) {
            if (strcmp(f->values[i], s) == 0 && strlen(s) == len)
                return NULL;
        }
        return "must be one of the field's values";
    case BW_FT_JSON: {
        size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
        return n == 0 || n > max_len(f) ? "is longer than max_length" : NULL;
    }
    }
    return "has an unknown type";
}

enum bw_rc bw_record_validate(const struct bw_schema *s, const json_t *data,
                              struct bw_data_errors *de)
{
    const char *key;
    json_t *v;
    size_t before = de->n;
    if (!json_is_object(data)) {
        bw_data_error(de, "data", "must be an object of the collection's fields");
        return BW_ERR_INVALID;
    }
    json_object_foreach((json_t *)data, key, v)
    {
        const struct bw_field *f = bw_schema_find(s, key);
        if (f == NULL) {
            /* the key itself is client text: name it only when it is a valid name */
            bw_data_error(de, bw_name_valid(key) ? key : "data", "unknown field");
            continue;
        }
        if (json_is_null(v)) {
            if (f->required)
                bw_data_error(de, f->name, "is required");
            continue;
        }
        const char *msg = check_value(f, v);
        if (msg != NULL)
            bw_data_error(de, f->name, msg);
    }
    for (size_t i = 0; i < s->n; i++) {
        if (s->f[i].required && json_object_get(data, s->f[i].name) == NULL)
            bw_data_error(de, s->f[i].name, "is required");
    }
    if (de->n == before && json_object_size(data) > BW_FIELDS_MAX)
        bw_data_error(de, "data", "too many fields");
    return de->n == before ? BW_OK : BW_ERR_INVALID;
}

enum bw_rc bw_field_filter_value(const struct bw_field *f, const char *text, json_t **out)
{
    json_t *v = NULL;
    uint64_t u = 0;
    if (f->type == BW_FT_INTEGER) {
        bool neg = text[0] == '-';
        if (bw_parse_u64(text + (neg ? 1 : 0), (uint64_t)INT64_MAX, &u) != BW_OK)
            return BW_ERR_INVALID;
        v = json_integer(neg ? -(json_int_t)u : (json_int_t)u);
    } else if (f->type == BW_FT_BOOLEAN) {
        bool b;
        if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
            return BW_ERR_INVALID;
        b = strcmp(text, "true") == 0;
        v = json_boolean(b);
    } else if (f->type == BW_FT_NUMBER || f->type == BW_FT_JSON) {
        return BW_ERR_INVALID; /* no equality on floats or documents */
    } else {
        v = json_string(text);
    }
    if (v == NULL)
        return BW_ERR_INVALID;
    const char *msg = check_value(f, v);
    if (msg != NULL) {
        json_decref(v);
        return BW_ERR_INVALID;
    }
    *out = v;
    return BW_OK;
}
