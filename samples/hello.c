/* hello.c - a first actor: it prints what it is sent, then stops. */
#include <hive/hive.h>
#include <stdio.h>

/* Runs once per message, never at the same time as itself. */
static int greeter_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  printf("%.*s\n", (int)msg->len, (const char *)msg->data);
  return HIVE_STOP; /* one message is enough: exit with reason normal */
}

static const hive_behaviour_t greeter = {.name = "greeter", .handle = greeter_handle};

int main(void) {
  hive_t *node;
  hive_pid_t pid;
  if (hive_start(&node, NULL) != HIVE_OK) /* a worker thread per CPU */
    return 1;
  hive_spawn(node, &greeter, NULL, 0, NULL, &pid);
  hive_send(node, pid, HIVE_TAG_USER, "hello, world", 12); /* copied */
  hive_join(node, pid, -1);                                /* wait until the greeter has stopped */
  return hive_stop(node) == HIVE_OK ? 0 : 1;
}
