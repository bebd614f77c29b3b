/* Moved to tests/support/check.h; this forwarder stays until the tests that
 * still include it (tests/pretrain, tests/model) switch over. */
#include "tests/support/check.h"
