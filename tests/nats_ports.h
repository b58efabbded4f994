/*
 * nats_ports.h - where a nats-server that a test started listens: started
 * with "-a 127.0.0.1 -p -1 --ports_file_dir DIR", it writes
 * DIR/nats-server_<PID>.ports once it listens (docs: shared/DEPENDENCIES.md).
 */
#ifndef HIVE_TESTS_NATS_PORTS_H
#define HIVE_TESTS_NATS_PORTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The port server pid listens on, or 0 while its file is not written. */
static inline int nats_ports_read(const char *dir, pid_t pid) {
  char path[256], buf[256] = {0};
  snprintf(path, sizeof(path), "%s/nats-server_%d.ports", dir, (int)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  size_t got = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  const char *p = got > 0 ? strstr(buf, "nats://127.0.0.1:") : NULL;
  return p != NULL ? atoi(p + strlen("nats://127.0.0.1:")) : 0;
}

#endif /* HIVE_TESTS_NATS_PORTS_H */
