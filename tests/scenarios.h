/*
 * scenarios.h - concurrency scenarios shared by the Criterion tests and by
 * concurrency_checks, the plain program ThreadSanitizer runs (Criterion
 * cannot start under TSan).
 *
 * Each scenario starts its own node with `workers` workers (0: one per CPU),
 * runs to completion, stops the node, and returns NULL on success or a text
 * saying what broke. They synchronise on hive_join and semaphores, never on
 * sleeps.
 */
#ifndef HIVE_TEST_SCENARIOS_H
#define HIVE_TEST_SCENARIOS_H

typedef const char *scenario_result_t;

/* 4 threads x 200 000 messages to one actor: each thread's sequence arrives
 * in order, the total is exact, and handler calls never overlap. */
scenario_result_t scenario_per_sender_order(unsigned workers);

/* 4 producer actors, each making 20 000 calls, send 0-7 messages a call
 * (copied or moved) to 8 receivers at random, then an end message that
 * carries the count: each producer's messages arrive in order and none is
 * lost, whether the receiver was woken in the same turn or not. */
scenario_result_t scenario_actor_sender_order(unsigned workers);

/* 1 000 actors forward 1 000 tokens 1 000 hops each (1 000 000 messages):
 * every token arrives once, and every hop is counted exactly once. */
scenario_result_t scenario_forwarding_no_loss(unsigned workers);

/* A thread keeps sending to pids whose actors die while new actors take
 * their slots: no new actor ever gets a message meant for an old pid, and
 * every message is either handled or counted as a dead letter. */
scenario_result_t scenario_stale_pid_race(unsigned workers);

/* Actors spawning children that exit at once, while outside threads send to
 * them and register names; then the node stops with work still queued. */
scenario_result_t scenario_churn_and_stop(unsigned workers);

/* Client actors request from normal and blocking servers with timeouts
 * (some replies held, so some come late), racing timers they cancel; plain
 * threads ask at the same time; a server is killed halfway. Every request
 * gets exactly one answer: reply, timeout or noproc. */
scenario_result_t scenario_requests_and_timers(unsigned workers);

/* 1 000 actors link to, monitor, unlink and demonitor each other at random
 * while messages flow, and end at random, normally or not: every actor
 * ends, terminate runs once each, and no DOWN arrives for a monitor that
 * is not held. */
scenario_result_t scenario_links_and_monitors(unsigned workers);

/* A supervisor's children crash at random while plain threads call it
 * (which, count, terminate, restart) and another reads every statistic
 * (hive_metrics) as the admin socket does; then the node stops: every
 * child started had its terminate run once, and no spec was lost. */
scenario_result_t scenario_supervision_churn(unsigned workers);

/* The same, with the inspector reading over HTTP (every route) and killing
 * children by POST, from a client of the HTTP endpoint's threads: every
 * request gets its status (a kill of a child that ended meanwhile: 404). */
scenario_result_t scenario_http_inspection(unsigned workers);

/* A child supervisor whose workers hold registered names is killed 50
 * times: each time it comes back with its workers under the same names
 * (its parent retries the restart after a yield), and the parent never
 * gives up. */
scenario_result_t scenario_named_restarts(unsigned workers);

/* 8 gateway clients, each on its own thread, make pipelined calls (32 in
 * flight) while an actor pushes to them; some hang up with calls in
 * flight, some have their connection's actor killed under them, and the
 * node stops with calls in flight: every call a client waits for is
 * answered (a reply, or shutdown) unless its connection closed, and the
 * node's counts add up. */
scenario_result_t scenario_gateway_clients(unsigned workers);
/* Two nodes of a cluster in one process, over a nats-server of its own:
 * streaming, asks from plain threads, links and monitors, both stopping. */
scenario_result_t scenario_cluster_pair(unsigned workers);

#endif /* HIVE_TEST_SCENARIOS_H */
