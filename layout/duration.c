/* layout/duration.h */
#include "layout/duration.h"

#include <errno.h>
#include <string.h>

#include "layout/error.h"

enum parse_result { PARSED, INVALID, TOO_LONG };

/* Go's time.ParseDuration grammar (an optional '+', "0", or numbers each
 * with a unit) into nanoseconds; `*exact_out` is 0 when a fraction left a
 * part of a nanosecond (the total is then rounded down). */
static enum parse_result parse_nanoseconds(const char *text, uint64_t *total_out, int *exact_out)
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
    uint64_t total = 0;
    *exact_out = 1;
    if (*text == '+')
        text++;
    if (strcmp(text, "0") == 0) {
        *total_out = 0;
        return PARSED;
    }
    if (*text == '\0' || *text == '-')
        return INVALID;
    while (*text != '\0') {
        uint64_t whole = 0, fraction = 0, scale = 1;
        size_t whole_digits = 0, fraction_digits = 0;
        for (; *text >= '0' && *text <= '9'; text++, whole_digits++)
            if (__builtin_mul_overflow(whole, 10, &whole) ||
                __builtin_add_overflow(whole, (uint64_t)(*text - '0'), &whole))
                return TOO_LONG;
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
            return INVALID;
        size_t unit = 0, count = sizeof units / sizeof units[0], best = count;
        for (; unit < count; unit++) {
            size_t length = strlen(units[unit].name);
            if (strncmp(text, units[unit].name, length) == 0 &&
                (best == count || length > strlen(units[best].name)))
                best = unit;
        }
        if (best == count)
            return INVALID;
        text += strlen(units[best].name);
        uint64_t per = units[best].nanoseconds, part;
        if (__builtin_mul_overflow(whole, per, &part) ||
            __builtin_add_overflow(total, part, &total))
            return TOO_LONG;
        if (fraction > 0) {
            /* fraction / scale of a unit; exact when it divides evenly. */
            unsigned __int128 nanoseconds = (unsigned __int128)fraction * per;
            if (nanoseconds % scale != 0)
                *exact_out = 0;
            if (__builtin_add_overflow(total, (uint64_t)(nanoseconds / scale), &total))
                return TOO_LONG;
        }
    }
    *total_out = total;
    return PARSED;
}

/* parse_nanoseconds(), its failures as messages that show `examples`. */
static int parse_or_explain(const char *text, const char *examples, uint64_t *total_out,
                            int *exact_out)
{
    switch (parse_nanoseconds(text, total_out, exact_out)) {
    case PARSED:
        return 0;
    case INVALID:
        return error_set(-EINVAL, "expected a duration such as %s, got \"%.80s\"", examples, text);
    default:
        return error_set(-EINVAL, "duration too long: \"%.80s\"", text);
    }
}

int duration_parse(const char *text, uint64_t *seconds_out)
{
    uint64_t total = 0; /* nanoseconds */
    int exact = 1;
    int result = parse_or_explain(text, "90s, 15m, 168h or 1h30m", &total, &exact);
    if (result < 0)
        return result;
    if (!exact || total % 1000000000ULL != 0)
        return error_set(-EINVAL, "durations here are whole seconds, got \"%.80s\"", text);
    *seconds_out = total / 1000000000ULL;
    return 0;
}

int duration_parse_milliseconds(const char *text, uint64_t *milliseconds_out)
{
    const char *sign = text[0] == '+' ? text + 1 : text;
    if (sign[0] == '-')
        return error_set(-EINVAL, "a duration cannot be negative, got \"%.80s\"", text);
    if (sign[0] != '\0' && strspn(sign, "0123456789.") == strlen(sign) && strcmp(sign, "0") != 0)
        return error_set(-EINVAL,
                         "a duration needs a unit, such as 500ms, 5s or 1m (a bare number would "
                         "be nanoseconds in Distribution), got \"%.80s\"",
                         text);
    uint64_t total = 0; /* nanoseconds */
    int exact = 1;
    int result = parse_or_explain(text, "500ms, 1.5s, 2s or 1m30s", &total, &exact);
    if (result < 0)
        return result;
    /* Rounded up: a part of a millisecond (or of a nanosecond) is one more. */
    uint64_t milliseconds = total / 1000000ULL;
    if (total % 1000000ULL != 0 || !exact)
        milliseconds++;
    *milliseconds_out = milliseconds;
    return 0;
}
