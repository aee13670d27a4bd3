/* src/http/ssl_read_clamp.h */
#include "src/http/ssl_read_clamp.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

typedef int (*ssl_read_function)(SSL *, void *, int);

static ssl_read_function real_ssl_read;
static pthread_once_t lookup_once = PTHREAD_ONCE_INIT;

static void lookup(void)
{
    real_ssl_read = (ssl_read_function)dlsym(RTLD_NEXT, "SSL_read");
}

int SSL_read(SSL *ssl, void *buffer, int length)
{
    pthread_once(&lookup_once, lookup);
    if (real_ssl_read == NULL) {
        errno = ENOSYS;
        return -1;
    }
    if (length <= 0 || length > SSL_READ_CLAMP_MAX)
        length = SSL_READ_CLAMP_MAX;
    return real_ssl_read(ssl, buffer, length);
}
