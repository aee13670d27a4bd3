/* cairn: the registry server's entry point (see src/server.h). */
#include <stdio.h>

#include "src/options.h"
#include "src/server.h"

int main(int argc, char **argv)
{
    struct options options;
    int result = options_parse(&options, argc, argv, stderr);
    if (result != 0)
        return result > 0 ? 0 : 2;
    return server_run(&options);
}
