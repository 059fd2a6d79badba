#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t need;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        need = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        need = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        need = 4;
    else
        return 0;
    if (need > n)
        return 0;
    for (size_t i = 1; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

char *text_excerpt(const char *s, size_t len, size_t max)
{
    struct buf b;
    size_t i = 0;

    buf_init(&b, 0);
    if (buf_puts(&b, "") < 0)
        return NULL;
    while (i < len) {
        if (b.len >= max) {
            buf_puts(&b, "...");
            break;
        }
        size_t n = utf8_len((const unsigned char *)s + i, len - i);
        if (n == 0 || s[i] == '\0') {
            buf_append(&b, "?", 1);
            i++;
        } else {
            buf_append(&b, s + i, n);
            i += n;
        }
    }
    return buf_steal(&b);
}

/* Levenshtein distance with one row of memory; words here are short keys. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *text_nearest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t best_d = 1 + strlen(word) / 3 + 1;
    for (; *candidates; candidates++) {
        size_t d = edit_distance(word, *candidates);
        if (d < best_d) {
            best = *candidates;
            best_d = d;
        }
    }
    return best;
}

char *text_mask(const char *s, const char *const *secrets, size_t n)
{
    struct buf b;

    buf_init(&b, 0);
    if (buf_puts(&b, "") < 0)
        return NULL;
    while (*s) {
        size_t hit = 0;
        for (size_t k = 0; k < n; k++) {
            size_t l = strlen(secrets[k]);
            if (l && strncmp(s, secrets[k], l) == 0 && l > hit)
                hit = l;
        }
        if (hit) {
            buf_puts(&b, "***");
            s += hit;
        } else {
            buf_append(&b, s, 1);
            s++;
        }
    }
    return buf_steal(&b);
}

void text_rfc3339(char *dst, size_t dstlen, long long unix_ms)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    char day[32];

    gmtime_r(&secs, &tm);
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(dst, dstlen, "%s.%03lldZ", day, unix_ms % 1000);
}

int text_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > TEXT_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("._+-", name[i]))
            return 0;
    return 1;
}

int text_duration_ms(const char *text, long long *ms)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
                 {"d", 86400000}};
    char *end;

    /* Decimal digits and one point only: strtod alone would also take " 5", "+5",
     * "inf", "nan", exponents and hex. */
    size_t n = text ? strspn(text, "0123456789.") : 0;
    const char *point = text ? memchr(text, '.', n) : NULL;
    if (n == 0 || n > 32 || (point && memchr(point + 1, '.', n - (size_t)(point - text) - 1))
        || strspn(text, ".") == n)
        return -1;
    char number[33];
    memcpy(number, text, n);
    number[n] = '\0';
    errno = 0;
    double v = strtod(number, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    end = (char *)text + n;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) != 0)
            continue;
        double total = v * units[i].ms;
        if (!isfinite(total) || total > (double)TEXT_DURATION_MAX_MS)
            return -1;
        *ms = (long long)total;
        return 0;
    }
    return -1;
}

void text_field_error(char *err, size_t errlen, const char *field, const char *fmt, va_list ap)
{
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (field[0])
        snprintf(err, errlen, "%s: %s", field, msg);
    else
        snprintf(err, errlen, "%s", msg);
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* n decimal digits at t into *v; 0 or -1. */
static int digits(const char *t, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return -1;
        *v = *v * 10 + (t[i] - '0');
    }
    return 0;
}

long long text_rfc3339_ms(const char *t)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, s, oh = 0, om = 0;
    long long frac_ms = 0;

    /* full-date "T" partial-time time-offset, each field of fixed width. */
    if (!t || strlen(t) < 20 || digits(t, 4, &y) || t[4] != '-' || digits(t + 5, 2, &mo)
        || t[7] != '-' || digits(t + 8, 2, &d) || (t[10] != 'T' && t[10] != 't')
        || digits(t + 11, 2, &h) || t[13] != ':' || digits(t + 14, 2, &mi) || t[16] != ':'
        || digits(t + 17, 2, &s))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23
        || mi > 59 || s > 60)
        return -1;
    t += 19;
    if (*t == '.') {
        int n = 0;
        double scale = 100;
        for (t++; *t >= '0' && *t <= '9'; t++, n++) {
            if (n < 3)
                frac_ms += (long long)((*t - '0') * scale);
            scale /= 10;
        }
        if (n == 0)
            return -1;
    }
    if (*t == '+' || *t == '-') {
        if (strlen(t) != 6 || digits(t + 1, 2, &oh) || t[3] != ':' || digits(t + 4, 2, &om)
            || oh > 23 || om > 59)
            return -1;
        if (*t == '+') {
            oh = -oh;
            om = -om;
        }
    } else if (strcmp(t, "Z") != 0 && strcmp(t, "z") != 0) {
        return -1;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s > 59 ? 59 : s;   /* a leap second counts as the second before it */
    return ((long long)timegm(&tm) + oh * 3600LL + om * 60LL) * 1000 + frac_ms;
}
