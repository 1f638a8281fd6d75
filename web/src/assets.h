/* Static files of the dashboard, embedded at build time by web/embed.cmake (generated
 * web_assets.c in the build directory). The table ends with an entry whose path is NULL.
 * Data is read-only and lives for the whole program. */
#ifndef S4F_WEB_ASSETS_H
#define S4F_WEB_ASSETS_H

#include <stddef.h>

struct s4f_web_asset {
    const char *path; /* "/index.html", "/vendor/uPlot.iife.min.js" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
    const char *etag; /* quoted, from the content's SHA-256 */
};

extern const struct s4f_web_asset s4f_web_assets[];

#endif
