/* libFuzzer entry: any bytes through the flat-record reader; a parsed flow must be sane. */
#include "flow.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s4f_flow f;
    if (s4f_flow_parse((const char *)data, size, &f, NULL) == S4F_OK &&
        (f.start_ms > f.end_ms || (f.src.family != 4 && f.src.family != 6)))
        abort();
    return 0;
}
