/* cairn: the registry server's entry point (see src/http/server.h). */
#include <stdio.h>

#include "src/config/options.h"
#include "src/http/server.h"

int main(int argc, char **argv)
{
    struct options options;
    int result = options_parse(&options, argc, argv, stderr);
    int exit_code;
    if (result > 0)
        exit_code = 0; /* --help, --version, a good --check-config */
    else if (result < 0)
        exit_code = options.check_only ? 1 : 2;
    else
        exit_code = server_run(&options);
    options_release(&options);
    return exit_code;
}
