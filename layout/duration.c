/* layout/duration.h */
#include "layout/duration.h"

#include <errno.h>
#include <string.h>

#include "layout/error.h"

int duration_parse(const char *text, uint64_t *seconds_out)
{
    static const struct {
        const char *name;
        uint64_t nanoseconds;
    } units[] = {{"ns", 1},
                 {"us", 1000},
                 {"\xc2\xb5s", 1000}, /* µs, micro sign */
                 {"\xce\xbcs", 1000}, /* μs, Greek mu */
                 {"ms", 1000000},
                 {"s", 1000000000ULL},
                 {"m", 60ULL * 1000000000ULL},
                 {"h", 3600ULL * 1000000000ULL}};
    const char *start = text;
    uint64_t total = 0; /* nanoseconds */
    int exact = 1;
    if (*text == '+')
        text++;
    if (strcmp(text, "0") == 0) {
        *seconds_out = 0;
        return 0;
    }
    if (*text == '\0' || *text == '-')
        goto invalid;
    while (*text != '\0') {
        uint64_t whole = 0, fraction = 0, scale = 1;
        size_t whole_digits = 0, fraction_digits = 0;
        for (; *text >= '0' && *text <= '9'; text++, whole_digits++)
            if (__builtin_mul_overflow(whole, 10, &whole) ||
                __builtin_add_overflow(whole, (uint64_t)(*text - '0'), &whole))
                goto too_long;
        if (*text == '.') {
            text++;
            for (; *text >= '0' && *text <= '9'; text++, fraction_digits++) {
                if (scale > UINT64_MAX / 100) /* digits past 1e-18 change nothing here */
                    continue;
                fraction = fraction * 10 + (uint64_t)(*text - '0');
                scale *= 10;
            }
        }
        if (whole_digits == 0 && fraction_digits == 0)
            goto invalid;
        size_t unit = 0, count = sizeof units / sizeof units[0], best = count;
        for (; unit < count; unit++) {
            size_t length = strlen(units[unit].name);
            if (strncmp(text, units[unit].name, length) == 0 &&
                (best == count || length > strlen(units[best].name)))
                best = unit;
        }
        if (best == count)
            goto invalid;
        text += strlen(units[best].name);
        uint64_t per = units[best].nanoseconds, part;
        if (__builtin_mul_overflow(whole, per, &part) ||
            __builtin_add_overflow(total, part, &total))
            goto too_long;
        if (fraction > 0) {
            /* fraction / scale of a unit; exact when it divides evenly. */
            unsigned __int128 nanoseconds = (unsigned __int128)fraction * per;
            if (nanoseconds % scale != 0)
                exact = 0;
            if (__builtin_add_overflow(total, (uint64_t)(nanoseconds / scale), &total))
                goto too_long;
        }
    }
    if (!exact || total % 1000000000ULL != 0)
        return error_set(-EINVAL, "durations here are whole seconds, got \"%.80s\"", start);
    *seconds_out = total / 1000000000ULL;
    return 0;
invalid:
    return error_set(-EINVAL, "expected a duration such as 90s, 15m, 168h or 1h30m, got \"%.80s\"",
                     start);
too_long:
    return error_set(-EINVAL, "duration too long: \"%.80s\"", start);
}
