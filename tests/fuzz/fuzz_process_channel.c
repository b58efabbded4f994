/*
 * fuzz_process_channel.c - libFuzzer target for what a process actor's
 * node side accepts from its child (process/channel.c): the bytes are read
 * as the proxy reads them, a 32-byte head then its data, frame after
 * frame; every head must be refused or lead to data within bounds and a
 * known type, never a read past the input or a huge allocation. Seeds:
 * tests/fuzz/corpus/process_channel.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "process/channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0;
  while (size - off >= sizeof(proc_head_t)) {
    proc_head_t head;
    memcpy(&head, data + off, sizeof(head));
    off += sizeof(head);
    if (!hive__proc_head_ok(&head, true))
      return 0; /* the proxy ends the actor: crash, "protocol" */
    assert(head.type == PROC_DONE || head.type == PROC_SEND || head.type == PROC_REPLY ||
           head.type == PROC_DYING);
    assert(head.len <= PROC_MAX_DATA);
    if (head.type == PROC_DONE || head.type == PROC_DYING)
      assert(head.len == 0);
    if (head.len > size - off)
      return 0; /* the child died mid-frame: EOF */
    /* The proxy copies the data into a buffer of exactly its size. */
    void *copy = head.len > 0 ? malloc(head.len) : NULL;
    if (head.len > 0)
      memcpy(copy, data + off, head.len);
    free(copy);
    off += head.len;
  }
  /* A node-side frame is never accepted from a child. */
  proc_head_t init = {.type = PROC_INIT};
  assert(!hive__proc_head_ok(&init, true));
  return 0;
}
