//go:build race

package explain

// raceEnabled: the race detector allocates on its own account, so
// allocation counts mean nothing under -race.
const raceEnabled = true
