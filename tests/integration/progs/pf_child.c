/* The image pf_spawn starts: writes 4 times, prints its pid and parent. */
#include "pf_common.h"

int main(int argc, char **argv)
{
    int devnull = pf_devnull();
    pf_writes(devnull, 4);
    printf("%s child %d ppid %d\n", argc > 1 ? argv[1] : "?", (int)getpid(),
           (int)getppid());
    return 0;
}
