/* layout/error.h */
#include "layout/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char message[ERROR_MESSAGE_MAX];

int error_set(int code, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof message, format, arguments);
    va_end(arguments);
    return code;
}

const char *error_message(void)
{
    return message;
}
