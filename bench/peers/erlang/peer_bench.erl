%% peer_bench: the six benchmark workloads of hive's bench/ (defined in
%% shared/DESIGN.md, "Benchmarks"), written for Erlang/OTP so that hive can be
%% compared with it. Actors are processes, messages go with ! and receive, and
%% the process that runs main/1 is the collector that observes "done".
%%
%%   erl -noshell [+S W:W] -pa OUTDIR -run peer_bench main WORKLOAD [SIZES...]
%%
%% (run.sh wraps this.) WORKLOAD is one of pingpong threadring fanout spawn
%% big memory. The last line printed is the RESULT line of the shared design;
%% then the runtime halts.
-module(peer_bench).
-export([main/1]).

%% The default sizes of each workload, in positional order.
defaults("pingpong") -> [2000000];
defaults("threadring") -> [503, 10000000];
defaults("fanout") -> [60, 250000];
defaults("spawn") -> [1000000];
defaults("big") -> [120, 40000];
defaults("memory") -> [100000];
defaults(_) -> unknown.

main([Workload | Args]) ->
    case defaults(Workload) of
        unknown ->
            usage("unknown workload " ++ Workload);
        Defaults ->
            case sizes(Args, Defaults) of
                {ok, Sizes} -> run(Workload, Sizes);
                {error, Why} -> usage(Why)
            end
    end,
    erlang:halt(0);
main([]) ->
    usage("no workload").

usage(Why) ->
    io:format(standard_error,
              "peer_bench: ~s~nusage: peer_bench main WORKLOAD [SIZES...]~n"
              "  WORKLOAD: pingpong threadring fanout spawn big memory~n", [Why]),
    erlang:halt(2).

%% The sizes given replace the first defaults; the others keep theirs.
sizes([], Defaults) ->
    {ok, Defaults};
sizes([_ | _], []) ->
    {error, "too many sizes"};
sizes([Arg | Args], [_ | Defaults]) ->
    case string:to_integer(Arg) of
        {N, ""} when N > 0 ->
            case sizes(Args, Defaults) of
                {ok, Sizes} -> {ok, [N | Sizes]};
                Error -> Error
            end;
        _ ->
            {error, "bad size " ++ Arg}
    end.

run("pingpong", [N]) -> pingpong(N);
run("threadring", [R, N]) -> threadring(R, N);
run("fanout", [A, M]) -> fanout(A, M);
run("spawn", [N]) -> spawn_bench(N);
run("big", [A, _]) when A < 2 -> usage("big needs at least 2 actors");
run("big", [A, N]) -> big(A, N);
run("memory", [K]) -> memory(K).

clock() -> erlang:monotonic_time(nanosecond).

secs_since(T0) -> max(clock() - T0, 1) / 1.0e9.

result(Name, N, Secs, Rate) ->
    io:format("RESULT peer=erlang bench=~s n=~b secs=~.3f rate=~b~n",
              [Name, N, Secs, round(Rate)]).

%% Waits for Count messages 'done'.
collect(0) -> ok;
collect(Count) -> receive done -> collect(Count - 1) end.

%% pingpong N: ping sends to pong, pong answers, N round trips.
pingpong(N) ->
    Main = self(),
    T0 = clock(),
    Pong = spawn(fun pong/0),
    spawn(fun() -> ping(Pong, N, Main) end),
    collect(1),
    Secs = secs_since(T0),
    result("pingpong", N, Secs, 2 * N / Secs).

pong() ->
    receive
        {ping, From} ->
            From ! pong,
            pong()
    end.

ping(_Pong, 0, Main) ->
    Main ! done;
ping(Pong, Left, Main) ->
    Pong ! {ping, self()},
    receive pong -> ping(Pong, Left - 1, Main) end.

%% threadring R N: R processes in a ring pass one token that carries the
%% hops left; the process that receives 0 reports done. Each node learns its
%% successor from a first message, as the ring's last node needs the first.
threadring(R, N) ->
    Main = self(),
    T0 = clock(),
    Nodes = [spawn(fun() -> ring_node_init(Main) end) || _ <- lists:seq(1, R)],
    [First | Rest] = Nodes,
    lists:foreach(fun({Node, Next}) -> Node ! {next, Next} end,
                  lists:zip(Nodes, Rest ++ [First])),
    First ! N,
    collect(1),
    Secs = secs_since(T0),
    result("threadring", N, Secs, N / Secs).

ring_node_init(Main) ->
    receive {next, Next} -> ring_node(Next, Main) end.

ring_node(Next, Main) ->
    receive
        0 ->
            Main ! done;
        HopsLeft ->
            Next ! HopsLeft - 1,
            ring_node(Next, Main)
    end.

%% fanout A M: one sender sends M messages to each of A receivers, round
%% robin; each receiver reports once it has counted M.
fanout(A, M) ->
    Main = self(),
    T0 = clock(),
    Receivers = [spawn(fun() -> fanout_receiver(M, Main) end) || _ <- lists:seq(1, A)],
    spawn(fun() -> fanout_sender(M, Receivers) end),
    collect(A),
    Secs = secs_since(T0),
    result("fanout", A * M, Secs, A * M / Secs).

fanout_sender(0, _Receivers) ->
    ok;
fanout_sender(Left, Receivers) ->
    lists:foreach(fun(Receiver) -> Receiver ! msg end, Receivers),
    fanout_sender(Left - 1, Receivers).

fanout_receiver(0, Main) ->
    Main ! done;
fanout_receiver(Left, Main) ->
    receive msg -> fanout_receiver(Left - 1, Main) end.

%% spawn N: a spawner starts N processes one after another and sends each one
%% message carrying the collector; each sends 'done' to it and exits.
spawn_bench(N) ->
    Main = self(),
    T0 = clock(),
    spawn(fun() -> spawner(N, Main) end),
    collect(N),
    Secs = secs_since(T0),
    result("spawn", N, Secs, N / Secs).

spawner(0, _Collector) ->
    ok;
spawner(Left, Collector) ->
    spawn(fun spawned/0) ! {collector, Collector},
    spawner(Left - 1, Collector).

spawned() ->
    receive {collector, Collector} -> Collector ! done end.

%% big A N (Savina Big): each of A processes sends N pings, one at a time, to
%% peers chosen at random and answers every ping it gets with a pong, also
%% after it has reported to the sink. The processes are spawned first and
%% then told the tuple of all of them and their own index in it.
%% Random numbers: rand's exsss (xorshift116**), seeded with the index, its
%% state threaded through the loop (rand:uniform_s/2, no process dictionary).
big(A, N) ->
    Sink = self(),
    T0 = clock(),
    Pids = [spawn(fun() -> big_init(N, Sink) end) || _ <- lists:seq(1, A)],
    Peers = list_to_tuple(Pids),
    lists:foreach(fun({Me, Pid}) -> Pid ! {peers, Peers, Me} end,
                  lists:zip(lists:seq(1, A), Pids)),
    collect(A),
    Secs = secs_since(T0),
    result("big", 2 * A * N, Secs, 2 * A * N / Secs).

big_init(N, Sink) ->
    receive
        {peers, Peers, Me} ->
            big_ping(N, {Peers, Me, Sink}, rand:seed_s(exsss, Me))
    end.

%% Sends the next ping, or reports to the sink when all N were answered.
big_ping(0, {_Peers, _Me, Sink}, _Rand) ->
    Sink ! done,
    big_serve();
big_ping(Left, {Peers, Me, _Sink} = Env, Rand) ->
    {R, Rand1} = rand:uniform_s(tuple_size(Peers) - 1, Rand),
    Peer = if R >= Me -> R + 1; true -> R end, % any peer but me
    element(Peer, Peers) ! {ping, self()},
    big_wait(Left, Env, Rand1).

%% Waits for the pong to its ping, answering the pings of others meanwhile.
big_wait(Left, Env, Rand) ->
    receive
        {ping, From} ->
            From ! pong,
            big_wait(Left, Env, Rand);
        pong ->
            big_ping(Left - 1, Env, Rand)
    end.

big_serve() ->
    receive
        {ping, From} ->
            From ! pong,
            big_serve()
    end.

%% memory K: the RSS growth for K idle processes, each waiting in receive for
%% a message that never comes. Each checks in before it waits, so all K have
%% run and exist at the second RSS read.
memory(K) ->
    Main = self(),
    Before = rss_bytes(),
    T0 = clock(),
    _ = [spawn(fun() -> idle(Main) end) || _ <- lists:seq(1, K)],
    collect(K),
    Secs = secs_since(T0),
    After = rss_bytes(),
    io:format("RESULT peer=erlang bench=memory n=~b secs=~.3f bytes_per_actor=~b~n",
              [K, Secs, round((After - Before) / K)]).

idle(Main) ->
    Main ! done,
    receive never_comes -> ok end.

%% The resident set size: the second field of /proc/self/statm (resident
%% pages) times the page size.
rss_bytes() ->
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_Size, Resident | _] = binary:split(Statm, [<<" ">>, <<"\n">>], [global]),
    binary_to_integer(Resident) * page_size().

%% The page size, from the AT_PAGESZ (6) entry of the auxiliary vector that
%% the kernel gave the process: pairs of native words {type, value}.
page_size() ->
    {ok, Auxv} = file:read_file("/proc/self/auxv"),
    Bits = 8 * erlang:system_info(wordsize),
    page_size(Bits, Auxv).

page_size(Bits, Auxv) ->
    case Auxv of
        <<6:Bits/native, Size:Bits/native, _/binary>> -> Size;
        <<_:Bits/native, _:Bits/native, Rest/binary>> -> page_size(Bits, Rest)
    end.
