#include "text.h"

#include <ctype.h>

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

long long text_rfc3339_ms(const char *t)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, n = 0;
    double frac = 0;

    if (!t || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6
        || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    t += n;
    if (*t == '.') {
        char *end;
        frac = strtod(t, &end);
        t = end;
    }
    long long offset_s = 0;
    if ((*t == '+' || *t == '-') && strlen(t) == 6 && t[3] == ':') {
        offset_s = ((t[1] - '0') * 10 + (t[2] - '0')) * 3600 + ((t[4] - '0') * 10 + (t[5] - '0')) * 60;
        if (*t == '+')
            offset_s = -offset_s;
    } else if (strcmp(t, "Z") != 0 && strcmp(t, "z") != 0) {
        return -1;
    }
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return ((long long)timegm(&tm) + offset_s) * 1000 + (long long)(frac * 1000);
}
