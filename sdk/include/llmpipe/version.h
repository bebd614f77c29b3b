/* llmpipe SDK and plugin ABI versions.
 *
 * The SDK version is semantic (MAJOR.MINOR.PATCH) and describes the C library.
 * The ABI version describes what crosses the host <-> plugin boundary
 * (lp_stage_desc, lp_host_services): a new ABI minor only appends fields, a new
 * major breaks.
 *   1.0  first release
 *   1.1  lp_stage_desc.flags (LP_STAGE_RESUMABLE)
 * The host loads a plugin when the majors match and the plugin's
 * minor is not newer than the host's. */
#ifndef LLMPIPE_VERSION_H
#define LLMPIPE_VERSION_H

#define LP_SDK_VERSION_MAJOR  0
#define LP_SDK_VERSION_MINOR  1
#define LP_SDK_VERSION_PATCH  0
#define LP_SDK_VERSION_STRING "0.1.0"

#define LP_ABI_MAJOR 1
#define LP_ABI_MINOR 1

#ifdef __cplusplus
extern "C" {
#endif

/* The versions of the SDK library actually linked, which may differ from the
 * headers a plugin was compiled with. */
const char *lp_sdk_version(void);
void lp_abi_version(int *major, int *minor);

#ifdef __cplusplus
}
#endif
#endif
