// Package layering holds the test that keeps the rooms of ARCHITECTURE.md
// apart: the storage engine imports nothing of the domain, and server/
// never touches bbolt. It has no code of its own.
package layering
