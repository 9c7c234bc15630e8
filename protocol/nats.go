package protocol

// The work queue on NATS JetStream: one stream holds the jobs of every
// UFOP, on subject JobSubjectPrefix + name.
const (
	JobStream        = "UFOP_JOBS"
	JobSubjectPrefix = "ufop.jobs."
	// CancelSubject is where gateways announce jobs whose client left.
	CancelSubject = "ufop.cancel"
	// WakeSubject is where gateways ask the scaler for an instance of a
	// UFOP at zero that a job waits for (the message is the UFOP's name).
	WakeSubject = "ufop.wake"
)

// JobSubject is the subject of UFOP name's jobs.
func JobSubject(prefix, name string) string { return prefix + name }

// ConsumerName is the durable consumer of UFOP name's jobs.
func ConsumerName(name string) string { return "ufop-" + name }
