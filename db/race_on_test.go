//go:build race

package db

// raceEnabled: the race detector allocates beside the code measured, so
// allocation counts are taken without it.
const raceEnabled = true
