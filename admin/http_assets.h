/*
 * http_assets.h - the inspector page's files (admin/inspector/), compiled
 * into the library by admin/embed.cmake so that a node serves its page
 * with nothing installed beside it.
 */
#ifndef HIVE_ADMIN_HTTP_ASSETS_H
#define HIVE_ADMIN_HTTP_ASSETS_H

#include <stddef.h>

typedef struct hive__http_asset {
  const char *path; /* "/", "/inspector.js", ... */
  const char *type; /* its Content-Type */
  const unsigned char *data;
  size_t len;
} hive__http_asset_t;

extern const hive__http_asset_t hive__http_assets[];
extern const size_t hive__http_nassets;

#endif /* HIVE_ADMIN_HTTP_ASSETS_H */
