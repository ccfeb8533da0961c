/* Reference fixtures: tensors computed by PyTorch (the scripts in tests/reference/)
 * and stored as text under tests/reference/fixtures/, so tests never need
 * Python. Format, one tensor per record:
 *     tensor <name> <float32|float64|int64> <ndim> <d0> ... <dn-1>
 *     <values, row-major, whitespace separated, %.17g>
 * Lines starting with '#' are comments. */
#ifndef CGRAD_TEST_FIXTURE_H
#define CGRAD_TEST_FIXTURE_H

#include <cgrad/cgrad.h>

typedef struct fixture fixture;

/* Load tests/reference/fixtures/<file>; aborts the test on failure. */
fixture *fx_load(const char *file);
/* A new tensor (current scope) with the stored values; aborts if missing. */
cg_tensor *fx_get(const fixture *fx, const char *name);
/* Same, NULL if missing. */
cg_tensor *fx_find(const fixture *fx, const char *name);
/* A stored scalar's value. */
double fx_scalar(const fixture *fx, const char *name);
void fx_free(fixture *fx);

#endif
