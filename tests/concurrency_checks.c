/*
 * concurrency_checks.c - runs every concurrency scenario, with one worker
 * and with one per CPU. A plain program so ThreadSanitizer can run it.
 */
#include <stdio.h>

#include "scenarios.h"

int main(void) {
  static const struct {
    const char *name;
    scenario_result_t (*run)(unsigned workers);
  } scenarios[] = {
      {"per_sender_order", scenario_per_sender_order},
      {"actor_sender_order", scenario_actor_sender_order},
      {"forwarding_no_loss", scenario_forwarding_no_loss},
      {"stale_pid_race", scenario_stale_pid_race},
      {"churn_and_stop", scenario_churn_and_stop},
      {"requests_and_timers", scenario_requests_and_timers},
      {"links_and_monitors", scenario_links_and_monitors},
      {"supervision_churn", scenario_supervision_churn},
      {"named_restarts", scenario_named_restarts},
      {"gateway_clients", scenario_gateway_clients},
      {"cluster_pair", scenario_cluster_pair},
      {"http_inspection", scenario_http_inspection},
  };
  static const unsigned worker_counts[] = {0, 1};
  int passed = 0, failed = 0;
  for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
    for (size_t k = 0; k < 2; k++) {
      scenario_result_t failure = scenarios[i].run(worker_counts[k]);
      printf("%s %s (workers=%u)%s%s\n", failure ? "FAIL" : "ok  ", scenarios[i].name,
             worker_counts[k], failure ? ": " : "", failure ? failure : "");
      fflush(stdout);
      failure ? failed++ : passed++;
    }
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
