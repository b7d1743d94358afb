/* Calls into the shim before it has started: libpf_early.so's constructor
 * (run before the shim's) and this program's priority-101 constructor;
 * exit-time calls after the shim's exit work. Prints what it did; exit 0
 * if every allocation was right. */
#include "pf_common.h"

int pf_early_work(const char *who);
extern int pf_early_result;
static int prog_result;

__attribute__((constructor(101))) static void prog_ctor(void)
{
    prog_result = pf_early_work("pf_boot constructor");
}

int main(void)
{
    int r = pf_early_work("pf_boot main");
    printf("early=%d ctor=%d main=%d\n", pf_early_result, prog_result, r);
    return pf_early_result | prog_result | r;
}
