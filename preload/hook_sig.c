/* sig family: signal dispositions set or read (sigaction, signal). The
 * handlers themselves are not followed. Every hook is generated from its
 * table entry. */
#include <signal.h>

#include "shim.h"

MMP_CALLS_sig(MMP_DEFINE)

    const struct mmp_family_ops mmp_family_sig = {0};
