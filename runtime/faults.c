/*
 * faults.c - turning a fault inside a trapping actor's callback into its crash.
 *
 * On first use, handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT are
 * installed for the whole process (on the thread's alternate stack, so a
 * stack overflow can be caught too). hive__faults_call sets a jump point and
 * marks the thread; a fault while the mark is up jumps back there, and the
 * caller ends the actor with reason crash. A fault anywhere else is handed
 * to whatever handler was installed before, or gets the default action: the
 * process dies as plain C would.
 *
 * What this cannot undo (locks the callback held, memory it allocated, a
 * heap the fault itself damaged) is written down in docs/failure.md.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>

#include "runtime.h"

#define FAULTS_ALTSTACK_SIZE (64 * 1024)

typedef struct fault_frame {
  sigjmp_buf env;
  volatile sig_atomic_t signal;
  struct fault_frame *prev;
} fault_frame_t;

static _Thread_local fault_frame_t *fault_current;
static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
static struct sigaction fault_previous[NSIG];
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;

static void fault_handler(int sig, siginfo_t *info, void *context) {
  fault_frame_t *frame = fault_current;
  if (frame != NULL) {
    fault_current = frame->prev;
    frame->signal = sig;
    siglongjmp(frame->env, 1);
  }
  /* Not inside a trapping callback: as if hive were not here. */
  struct sigaction *prev = &fault_previous[sig];
  if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction != NULL) {
    prev->sa_sigaction(sig, info, context);
    return;
  }
  if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler != SIG_DFL &&
      prev->sa_handler != SIG_IGN) {
    prev->sa_handler(sig);
    return;
  }
  /* The default action: a synchronous fault happens again when we return,
   * abort() raises again by itself, a signal sent by kill() is raised. */
  signal(sig, SIG_DFL);
  if (info->si_code <= 0)
    raise(sig);
}

static void fault_install(void) {
  struct sigaction sa = {0};
  sa.sa_sigaction = fault_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++)
    sigaction(fault_signals[i], &sa, &fault_previous[fault_signals[i]]);
}

int hive__faults_call(int (*fn)(void *), void *arg, int *signal) {
  pthread_once(&fault_once, fault_install);
  fault_frame_t frame;
  frame.prev = fault_current;
  frame.signal = 0;
  if (sigsetjmp(frame.env, 1) != 0) { /* 1: the signal mask comes back too */
    *signal = frame.signal;
    return HIVE__CRASHED;
  }
  fault_current = &frame;
  int rc = fn(arg);
  fault_current = frame.prev;
  return rc;
}

void hive__faults_thread_init(hive__worker_t *w) {
  w->altstack = malloc(FAULTS_ALTSTACK_SIZE);
  if (w->altstack == NULL)
    return; /* faults are still trapped, but not a stack overflow */
  stack_t ss = {.ss_sp = w->altstack, .ss_size = FAULTS_ALTSTACK_SIZE, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) {
    free(w->altstack);
    w->altstack = NULL;
  }
}

void hive__faults_thread_fini(hive__worker_t *w) {
  if (w->altstack == NULL)
    return;
  stack_t ss = {.ss_flags = SS_DISABLE};
  sigaltstack(&ss, NULL);
  free(w->altstack);
  w->altstack = NULL;
}
