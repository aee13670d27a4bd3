/* src/http/ssl_interpose.h */
#include "src/http/ssl_interpose.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

typedef int (*ssl_read_function)(SSL *, void *, int);
typedef int (*ssl_get_error_function)(const SSL *, int);
typedef int (*ssl_shutdown_function)(SSL *);

static ssl_read_function real_ssl_read;
static ssl_get_error_function real_ssl_get_error;
static ssl_shutdown_function real_ssl_shutdown;
/* The SSL ex_data slot of a refused connection: a memory BIO with the bytes
 * OpenSSL wrote during a read, not yet sent. -1 when none could be had. */
static int refused_index = -1;
static pthread_once_t lookup_once = PTHREAD_ONCE_INIT;

/* Where OpenSSL writes during this thread's reads; handed to a refused
 * connection and replaced. */
static __thread BIO *capture;

static void free_held(void *parent, void *held, CRYPTO_EX_DATA *data, int index, long argl,
                      void *argp)
{
    (void)parent;
    (void)data;
    (void)index;
    (void)argl;
    (void)argp;
    BIO_free(held);
}

static void lookup(void)
{
    real_ssl_read = (ssl_read_function)dlsym(RTLD_NEXT, "SSL_read");
    real_ssl_get_error = (ssl_get_error_function)dlsym(RTLD_NEXT, "SSL_get_error");
    real_ssl_shutdown = (ssl_shutdown_function)dlsym(RTLD_NEXT, "SSL_shutdown");
    refused_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_held);
}

static BIO *held_of(const SSL *ssl)
{
    return refused_index >= 0 ? SSL_get_ex_data(ssl, refused_index) : NULL;
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
    if (refused_index < 0 || !SSL_is_server(ssl))
        return real_ssl_read(ssl, buffer, length);
    if (held_of(ssl) != NULL)
        return -1; /* refused: SSL_get_error says so */
    BIO *output = SSL_get_wbio(ssl);
    if (capture == NULL)
        capture = BIO_new(BIO_s_mem());
    if (output == NULL || capture == NULL)
        return real_ssl_read(ssl, buffer, length);

    /* SSL_set0_wbio() takes a reference and drops the one of the BIO it
     * replaces: one more of each keeps both alive across the swaps. */
    BIO_up_ref(output);
    BIO_up_ref(capture);
    SSL_set0_wbio(ssl, capture);
    int result = real_ssl_read(ssl, buffer, length);
    SSL_set0_wbio(ssl, output);
    if (BIO_ctrl_pending(capture) == 0)
        return result;
    if (SSL_set_ex_data(ssl, refused_index, capture) != 1) {
        (void)BIO_reset(capture); /* the old behaviour: the bytes are lost */
        return -1;
    }
    capture = NULL;
    return -1;
}

int SSL_get_error(const SSL *ssl, int result)
{
    pthread_once(&lookup_once, lookup);
    if (real_ssl_get_error == NULL)
        return SSL_ERROR_SSL;
    if (result <= 0 && held_of(ssl) != NULL)
        return SSL_ERROR_SSL;
    return real_ssl_get_error(ssl, result);
}

int SSL_shutdown(SSL *ssl)
{
    pthread_once(&lookup_once, lookup);
    if (real_ssl_shutdown == NULL)
        return -1;
    BIO *held = held_of(ssl);
    BIO *output = SSL_get_wbio(ssl);
    char *bytes;
    long length = held != NULL ? BIO_get_mem_data(held, &bytes) : 0;
    if (length > 0 && output != NULL) {
        /* Before close_notify: the held records came first. */
        (void)BIO_write(output, bytes, (int)length);
        (void)BIO_reset(held);
    }
    return real_ssl_shutdown(ssl);
}
