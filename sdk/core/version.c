#include "llmpipe/version.h"

const char *lp_sdk_version(void) { return LP_SDK_VERSION_STRING; }

void lp_abi_version(int *major, int *minor) {
    if (major) *major = LP_ABI_MAJOR;
    if (minor) *minor = LP_ABI_MINOR;
}
