/* Registry of analyses (workers/registry.c). */
#ifndef S4F_REGISTRY_H
#define S4F_REGISTRY_H

#include "analysis.h"

/* NULL-terminated. */
extern const struct s4f_analysis *const s4f_analyses[];
const struct s4f_analysis *s4f_analysis_find(const char *name);

#endif
