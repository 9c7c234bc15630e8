package protocol

import "strings"

// Persistent processing (pfop, SPEC §13): a JetStream stream of its own,
// one subject per owner (PfopSubjectPrefix + "<tier>.<owner>"), and a KV
// bucket of job states keyed by persistent id.
const (
	PfopStream        = "UFOP_PFOP"
	PfopSubjectPrefix = "ufop.pfop."
	// PfopWakeSubject is a core NATS subject: a submitter announces a new
	// job there so idle workers look at once.
	PfopWakeSubject = "ufop.pfopwake"
	PfopStateBucket = "ufop_pfop"
)

// PfopConsumerName is the durable consumer of one owner's pfop subject,
// given as "<tier>.<owner>".
func PfopConsumerName(tierOwner string) string {
	return "pfop-" + strings.ReplaceAll(tierOwner, ".", "-")
}
