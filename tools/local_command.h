// `txcoord local up|status|down`: a coordinator and N shards of this same binary on 127.0.0.1,
// each a group of R replicas (one process per replica), kept running in the background, with
// their configs, logs, pid files and data in one directory (the layout, names and ports are in
// tools/local_cluster.h; DIR/local.lock is held while `up` or `down` works).
//
//   txcoord local up --data-dir DIR [--shards N] [--replicas R] [--tick-ms MS] [--base-port P]
//                    [--config-master static|etcd] [--etcd-members 1|3|5]
//     Starts every node that is not running, detached (own session, stdin /dev/null, output to
//     DIR/NAME.log), then waits until each accepts connections on its client port (at most 15 s
//     from its start), and prints the coordinator's address "127.0.0.1:PORT" as the first line
//     of stdout (R > 1: its group's primary as DIR/groups.yaml has it, else replica 0), then a
//     table of the nodes. R is 1..9, default 1 (exactly the files and configs of a cluster made
//     before replica groups). A DIR that already holds a cluster is reused as it is (same ports,
//     same data); asking it for another --shards, --replicas, --tick-ms or --base-port is a usage
//     error. When every node was already serving it says so and exits 0. When a node fails to
//     start, the nodes this command started are stopped, the node and the tail of its log are
//     printed, and the exit status is 1. SIGINT, SIGTERM or SIGHUP while it starts them do the
//     same, with exit status 130. With --config-master etcd the configuration master is a
//     local etcd cluster (tools/local_etcd.h) of --etcd-members members (default 1) in DIR,
//     started before the nodes (and waited for until it answers); the nodes' configs name it.
//   txcoord local status --data-dir DIR
//     One line per node: name, pid, address, serving / running but not accepting / not running.
//     R > 1: also, per node, what it answers to Peer.replica_status on its peer port (role,
//     epoch, and its lag: how far its durable log is behind its primary's last position), or
//     "unreachable" when it does not answer within 0.5 s; then one line per group: its primary,
//     epoch, configuration version and ISR as DIR/groups.yaml has them ("no configuration yet"
//     before its nodes made it), and on etcd each node's "master" column (whether its last read
//     of the configuration master worked) and one line per etcd member (leader / follower / not
//     running). Exit 0 only when every node serves (and every etcd member runs and answers).
//   txcoord local down --data-dir DIR
//     SIGTERM to every node, up to 10 s for them to exit, then SIGKILL (then the same for the
//     etcd members of a cluster on etcd); removes the pid files and keeps the data. Exit 0 once none runs (also when none was running).
//
// A pid is signalled only while /proc/PID/cmdline names the node's config file, through a pidfd,
// so a pid file left by a crash never gets a later, unrelated process killed.
// Exit status 2: usage errors (unknown flag, missing value, number out of range).
#pragma once

#include <string>
#include <vector>

namespace txcoord::local {

// The usage lines of `txcoord local`, for the binary's usage text.
extern const char kLocalUsage[];

// Runs `txcoord local ARGS...` (`args` are the arguments after "local") and returns the exit
// status. Writes the results to stdout and the errors to stderr.
int RunLocalCommand(const std::vector<std::string>& args);

}  // namespace txcoord::local
