/* Private to the dispatch code: finding and loading backend libraries. */
#ifndef LPK_LOADER_H
#define LPK_LOADER_H

#include <lpk/backend.h>

/* The backend table for name ("cpu", "cpu:<build>", "cuda", ...), its
 * library loaded for the life of the process; NULL with a one-line reason
 * in err. */
const lpk_backend *lpk_load_backend(const char *name, char *err, size_t errlen);

#endif
