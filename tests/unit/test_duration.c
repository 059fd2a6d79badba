/*
 * Unit tests of text_duration_ms (shared/text.h), the one duration syntax of the CLI
 * options and the API's arguments. Reference values are hand-computed (1 h = 3,600,000
 * ms); overflow and junk must be refused, never wrapped or truncated.
 */
#include <stdio.h>

#include "check.h"
#include "text.h"

int main(void)
{
    static const struct {
        const char *text;
        long long ms;
    } good[] = {
        {"500ms", 500}, {"90s", 90000}, {"90", 90000}, {"15m", 900000}, {"1h", 3600000},
        {"7d", 604800000}, {"1.5s", 1500}, {"0", 0}, {"0.25h", 900000},
        {"3650d", 315360000000LL},
    };
    static const char *const bad[] = {
        "", "s", "ms", "-5s", "+5s", " 5s", "5 s", "5x", "5sec", "1e300", "1e300ms",
        "9223372036854775807ms", "9223372036854775807", "3651d", "inf", "nan", "0x10s",
        "1h30m",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        long long ms = -1;
        int rc = text_duration_ms(good[i].text, &ms);
        CHECK(rc == 0 && ms == good[i].ms, "\"%s\" is %lld ms (got %d, %lld)", good[i].text,
              good[i].ms, rc, ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long long ms = -1;
        CHECK(text_duration_ms(bad[i], &ms) == -1, "\"%s\" is refused", bad[i]);
    }
    long long ms;
    CHECK(text_duration_ms(NULL, &ms) == -1, "NULL is refused");
    return check_done();
}
