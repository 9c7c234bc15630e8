package builder

// Test packages: the builder gets its packages through
// manifest.ReadPackage like the gateway does; archives come from
// internal/tartest.

const minimalYAML = "run: [\"./handler\"]\n"
