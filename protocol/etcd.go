package protocol

import "strings"

// Root is the prefix of every key the platform writes in etcd.
const Root = "/ufop/"

// The default prefix of each part of the platform's etcd state. Each role's
// Config carries its prefix (tests give their own); these are the values a
// deployment uses.
const (
	// AgentsPrefix holds the agent registry: AgentKey, under leases.
	AgentsPrefix = Root + "agents/"
	// CatalogPrefix holds users, keys, buckets, UFOPs, versions, limits and
	// the cluster token (CatalogKey, ClusterTokenKey).
	CatalogPrefix = Root + "catalog/"
	// SchedulerPrefix holds placements and instance reports
	// (PlacementKey, InstanceKey) and the scheduler's election.
	SchedulerPrefix = Root + "sched/"
	// ScalerPrefix holds the scaler's election.
	ScalerPrefix = Root + "scaler/"
	// BuildersPrefix holds the builders' addresses, under leases.
	BuildersPrefix = Root + "builders/"
	// GatewaysPrefix holds the gateways' registrations (limit sharing).
	GatewaysPrefix = Root + "gateways/"
	// ReplayPrefix holds the admin request signatures already seen.
	ReplayPrefix = Root + "replay/"
)

// Prefixes lists every default prefix, for checks that they stay apart.
func Prefixes() []string {
	return []string{AgentsPrefix, CatalogPrefix, SchedulerPrefix, ScalerPrefix, BuildersPrefix, GatewaysPrefix, ReplayPrefix, ConsolePrefix, MigratePrefix}
}

// The catalog's tables, as sub-prefixes of a catalog prefix.
const (
	TableUsers    = "users/"
	TableKeys     = "keys/"
	TableBuckets  = "buckets/"
	TableUFOPs    = "ufops/"
	TableVersions = "versions/"
	TableLimits   = "limits/"
	// clusterToken and clusterID are single keys beside the tables.
	clusterToken = "cluster/token"
	clusterID    = "cluster/id"
)

// Tables lists the catalog's tables.
func Tables() []string {
	return []string{TableUsers, TableKeys, TableBuckets, TableUFOPs, TableVersions, TableLimits, TableStyles}
}

// CatalogKey is the key of row name in table under a catalog prefix.
func CatalogKey(prefix, table, name string) string { return prefix + table + name }

// ClusterTokenKey is the key of the shared secret gateways present to
// agents and builders.
func ClusterTokenKey(catalogPrefix string) string { return catalogPrefix + clusterToken }

// ClusterIDKey is the key of the platform's identity, which labels the
// Docker resources of its agents.
func ClusterIDKey(catalogPrefix string) string { return catalogPrefix + clusterID }

// AgentKey is the registry key of agent id.
func AgentKey(prefix, id string) string { return prefix + id }

// AgentID reads the agent id back from a registry key.
func AgentID(prefix, key string) (string, bool) {
	id, ok := strings.CutPrefix(key, prefix)
	return id, ok && id != ""
}

// LeaderKey is the election key under a role's prefix.
func LeaderKey(prefix string) string { return prefix + "leader" }

// BuilderKey is the registration key of builder id.
func BuilderKey(prefix, id string) string { return prefix + id }

// PlacementsPrefix is where all placements live under a scheduler prefix.
func PlacementsPrefix(prefix string) string { return prefix + "placements/" }

// AgentPlacementsPrefix is where the placements for agent live.
func AgentPlacementsPrefix(prefix, agent string) string {
	return PlacementsPrefix(prefix) + agent + "/"
}

// PlacementKey is the key of placement id on agent.
func PlacementKey(prefix, agent, id string) string { return AgentPlacementsPrefix(prefix, agent) + id }

// ParsePlacementKey reads agent and placement id back from a placement key.
func ParsePlacementKey(prefix, key string) (agent, id string, ok bool) {
	rest, found := strings.CutPrefix(key, PlacementsPrefix(prefix))
	if !found {
		return "", "", false
	}
	agent, id, found = strings.Cut(rest, "/")
	if !found || agent == "" || id == "" || strings.Contains(id, "/") {
		return "", "", false
	}
	return agent, id, true
}

// InstancesPrefix is where agents report their instances.
func InstancesPrefix(prefix string) string { return prefix + "instances/" }

// InstanceKey is the report key of instance id.
func InstanceKey(prefix, id string) string { return InstancesPrefix(prefix) + id }

// ReplayKey is the key recording an admin signature (hex) as seen.
func ReplayKey(prefix, sigHex string) string { return prefix + sigHex }
