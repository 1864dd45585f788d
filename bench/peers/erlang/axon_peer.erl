%% bench/peers/erlang/axon_peer.erl - axon-bench's in-process workloads on
%% Erlang/OTP, for side-by-side comparison (bench/peers/README.md).
%%
%%   erl -noshell -pa DIR -run axon_peer main WORKLOAD RUNS SCALE
%%
%% WORKLOAD: inproc_pingpong | inproc_stream | inproc_stream_unbounded |
%%           spawn_coroutine | skynet
%% Prints one JSON object on one line: peer, workload, variant, unit, count,
%% threads (schedulers online), values (one per run), check. Every run
%% happens in a fresh process, timed with erlang:monotonic_time; a failed
%% check halts with status 2. Skynet needs +P 2000000 (more than a million
%% processes alive; the default limit is 262,144).
-module(axon_peer).
-export([main/1]).

-define(PINGPONG_N, 1000000).
-define(STREAM_N, 10000000).
-define(SPAWN_N, 1000000).
-define(SKYNET_LEAVES, 1000000).
-define(PAYLOAD, <<"0123456789abcdef0123456789abcde", 0>>). % 32 bytes
-define(WINDOW, 1024). % at most this many messages unacknowledged
-define(ACK_EVERY, 512).

main([Workload, RunsS, ScaleS]) ->
    Runs = list_to_integer(RunsS),
    Scale = to_float(ScaleS),
    {Variant, Unit, N, Fun} = workload(Workload, Scale),
    Results = [in_fresh_process(fun() -> Fun(N) end) || _ <- lists:seq(1, Runs)],
    Values = [V || {V, _} <- Results],
    {_, Check} = lists:last(Results),
    io:format("{\"peer\": \"erlang\", \"workload\": \"~s\", \"variant\": \"~s\", "
              "\"unit\": \"~s\", \"count\": ~B, \"threads\": ~B, "
              "\"values\": [~s], \"check\": \"~s\"}~n",
              [base_name(Workload), Variant, Unit, N,
               erlang:system_info(schedulers_online),
               lists:join(", ", [float_to_list(float(V), [short]) || V <- Values]),
               Check]),
    halt(0);
main(_) ->
    io:format(standard_error, "usage: axon_peer WORKLOAD RUNS SCALE~n", []),
    halt(2).

base_name("inproc_stream_unbounded") -> "inproc_stream";
base_name(W) -> W.

workload("inproc_pingpong", S) ->
    {"default", "us", count(?PINGPONG_N, S), fun pingpong/1};
workload("inproc_stream", S) ->
    {"acked", "msg/s", count(?STREAM_N, S), fun stream_acked/1};
workload("inproc_stream_unbounded", S) ->
    {"unbounded", "msg/s", count(?STREAM_N, S), fun stream_unbounded/1};
workload("spawn_coroutine", S) ->
    {"default", "us", count(?SPAWN_N, S), fun spawn_bench/1};
workload("skynet", _) ->
    {"default", "ms", ?SKYNET_LEAVES, fun skynet_bench/1};
workload(W, _) ->
    fail("no workload named ~s", [W]).

count(N, Scale) -> max(1, round(N * Scale)).

to_float(S) ->
    case string:to_float(S) of
        {F, []} -> F;
        _ -> float(list_to_integer(S))
    end.

now_ns() -> erlang:monotonic_time(nanosecond).

fail(Fmt, Args) ->
    io:format(standard_error, "axon_peer: " ++ Fmt ++ "~n", Args),
    halt(2).

%% Run Fun in a new process (a fresh heap, like axon's fresh runtime per run)
%% and return its {Value, Check}.
in_fresh_process(Fun) ->
    Self = self(),
    {Pid, Ref} = spawn_monitor(fun() -> Self ! {self(), Fun()} end),
    receive
        {Pid, Result} ->
            receive {'DOWN', Ref, process, Pid, _} -> ok end,
            Result;
        {'DOWN', Ref, process, Pid, Why} ->
            fail("run failed: ~p", [Why])
    end.

%% --- inproc_pingpong: round trip of one small message ----------------------
%% axon sends "[s i]" ("ping", 1) and the pong actor sends the same message
%% back to its sender; here the tuple carries the sender's pid.

pong() ->
    receive
        {From, ping, _} = M -> From ! M, pong();
        stop -> ok
    end.

ping_loop(_, _, 0, Got) -> Got;
ping_loop(Pong, Msg, K, Got) ->
    Pong ! Msg,
    receive {_, ping, 1} = M -> ping_loop(Pong, M, K - 1, Got + 1) end.

pingpong(N) ->
    Pong = spawn(fun pong/0),
    Msg = {self(), ping, 1},
    T0 = now_ns(),
    Got = ping_loop(Pong, Msg, N, 0),
    T = now_ns() - T0,
    Pong ! stop,
    Got =:= N orelse fail("pingpong: ~B replies, expected ~B", [Got, N]),
    {T / N / 1000, io_lib:format("~B round trips", [Got])}.

%% --- inproc_stream: 32-byte binaries, producer to consumer -----------------
%% acked: Erlang has no bounded mailbox; the consumer acks every 512
%% messages and the producer never has more than 1024 unacknowledged, so
%% at most 1024 wait in the consumer's mailbox (axon: capacity 1024).
%% unbounded: the producer sends everything at once.

sink(Parent, N, N, Bytes, _) -> Parent ! {done, N, Bytes};
sink(Parent, N, C, Bytes, Ack) ->
    receive
        B when is_binary(B) ->
            C1 = C + 1,
            Ack andalso C1 rem ?ACK_EVERY =:= 0 andalso (Parent ! ack),
            sink(Parent, N, C1, Bytes + byte_size(B), Ack)
    end.

produce_acked(_, N, N, _) -> ok;
produce_acked(Sink, N, Sent, Acked) when Sent - Acked < ?WINDOW ->
    Sink ! ?PAYLOAD,
    produce_acked(Sink, N, Sent + 1, Acked);
produce_acked(Sink, N, Sent, Acked) ->
    receive ack -> produce_acked(Sink, N, Sent, Acked + ?ACK_EVERY) end.

produce_all(_, 0) -> ok;
produce_all(Sink, K) -> Sink ! ?PAYLOAD, produce_all(Sink, K - 1).

stream(N, Ack) ->
    Self = self(),
    Sink = spawn(fun() -> sink(Self, N, 0, 0, Ack) end),
    T0 = now_ns(),
    case Ack of
        true -> produce_acked(Sink, N, 0, 0);
        false -> produce_all(Sink, N)
    end,
    receive {done, Count, Bytes} -> ok end,
    T = now_ns() - T0,
    (Count =:= N andalso Bytes =:= 32 * N)
        orelse fail("stream: ~B messages, ~B bytes", [Count, Bytes]),
    {N / (T / 1.0e9), io_lib:format("~B messages, ~B bytes", [Count, Bytes])}.

stream_acked(N) -> stream(N, true).
stream_unbounded(N) -> stream(N, false).

%% --- spawn_coroutine: spawn + exit + reap ------------------------------------
%% The spawner yields every 256 spawns (as axon's does); the time ends when
%% the process count is back where it was, i.e. every process ran and exited.

spawn_loop(N, N, _) -> ok;
spawn_loop(N, I, F) ->
    spawn(F),
    I rem 256 =:= 255 andalso erlang:yield(),
    spawn_loop(N, I + 1, F).

wait_reaped(Base) ->
    case erlang:system_info(process_count) of
        C when C > Base -> erlang:yield(), wait_reaped(Base);
        _ -> ok
    end.

spawn_bench(N) ->
    F = fun() -> ok end,
    Base = erlang:system_info(process_count),
    T0 = now_ns(),
    spawn_loop(N, 0, F),
    wait_reaped(Base),
    T = now_ns() - T0,
    {T / N / 1000, io_lib:format("~B processes spawned and gone", [N])}.

%% --- skynet --------------------------------------------------------------------

skynet(Parent, Num, 1) -> Parent ! Num;
skynet(Parent, Num, Size) ->
    Self = self(),
    S = Size div 10,
    [spawn(fun() -> skynet(Self, Num + I * S, S) end) || I <- lists:seq(0, 9)],
    Parent ! collect(10, 0).

collect(0, Sum) -> Sum;
collect(K, Sum) -> receive V -> collect(K - 1, Sum + V) end.

skynet_bench(Leaves) ->
    Self = self(),
    T0 = now_ns(),
    spawn(fun() -> skynet(Self, 0, Leaves) end),
    Sum = receive V -> V end,
    T = now_ns() - T0,
    Sum =:= 499999500000 orelse fail("skynet: sum ~B", [Sum]),
    {T / 1.0e6, io_lib:format("sum ~B", [Sum])}.
