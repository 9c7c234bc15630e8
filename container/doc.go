// Package container runs UFOP instances (SPEC §4, §5) as containers on the
// local Docker engine, each one confined so that a hostile program can hurt
// neither the host, nor the other instances, nor anything on the network.
//
// # Isolation model
//
// Every instance runs with:
//
//   - CPU (NanoCPUs), memory (with memory+swap equal to memory, so no swap)
//     and a pids limit; a zero in the Spec takes the Config default, never
//     "unlimited";
//   - a read-only root filesystem and a small tmpfs /tmp (noexec, nosuid,
//     nodev), no other mounts, no host paths;
//   - all capabilities dropped, no-new-privileges, not privileged, user
//     65534:65534 (nobody), a private IPC namespace, IPv6 switched off;
//   - docker-init as PID 1, so zombies of a fork bomb are reaped and
//     SIGTERM reaches the program even when it installs no handler;
//   - a bounded log (the engine's "local" driver, two files of LogBytes/2).
//
// Instances live on one Docker bridge network per agent, created by Run:
// Internal (no route out of the host, enforced by Docker's own FORWARD
// rules) and with inter-container communication off (enable_icc=false:
// instances cannot reach each other; the host bridges through netfilter).
// That leaves the host itself: the bridge's gateway address belongs to the
// host, so without more a container could reach every service listening on
// 0.0.0.0 (gateway, etcd, NATS, ...). Run therefore installs a chain of its
// own, UFOP-<bridge>, jumped to from INPUT for packets entering through the
// bridge, which accepts established traffic (answers to the agent's own
// requests and health checks) and new TCP connections to the agent's local
// fetcher on <gateway>:AgentPort, and drops everything else. The same is
// done with ip6tables when it is available. Close removes the rules and the
// network once no instance is left on it; while instances survive (the
// agent restarts and adopts them with List) the rules stay, because they are
// what keeps the survivors confined.
//
// Containers, the network and the rules carry the Config labels (ufop.agent
// and friends) so a restarted agent finds and adopts what it left behind.
//
// Runtime reports deaths it did not cause (die, OOM) and failed health
// checks on Events.
package container
