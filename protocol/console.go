package protocol

// ConsolePrefix holds the web console's state (SPEC §15): one-time
// sign-in tokens and sessions, each under a lease of its lifetime.
const ConsolePrefix = Root + "console/"

// ConsoleSignInKey is the key of a sign-in token, by the hex SHA-256 of
// the token (etcd never holds a usable token).
func ConsoleSignInKey(prefix, tokenHash string) string { return prefix + "signin/" + tokenHash }

// ConsoleSessionKey is the key of a console session, by the hex SHA-256
// of its cookie value.
func ConsoleSessionKey(prefix, idHash string) string { return prefix + "sessions/" + idHash }

// The console's paths and names, shared by the gateway, the console's
// pages and ufopctl console.
const (
	// ConsolePath is where the admin listener serves the console.
	ConsolePath = "/console/"
	// ConsoleSignInPath redeems a one-time token (?t=) for a session.
	ConsoleSignInPath = "/console/signin"
	// ConsoleSignInAPI is the signed admin call that mints a token.
	ConsoleSignInAPI = "/v1/console/signin"
	// ConsoleCookie holds the session id (HttpOnly, SameSite=Strict).
	ConsoleCookie = "ufop_console"
	// ConsoleCSRFHeader carries the session's CSRF token on API calls.
	ConsoleCSRFHeader = "X-Ufop-Csrf"
)

// ConsoleSignIn is the answer of POST /v1/console/signin.
type ConsoleSignIn struct {
	// URL is the one-time sign-in URL on the admin listener.
	URL     string `json:"url"`
	Expires string `json:"expires"` // RFC 3339
}
