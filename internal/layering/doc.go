// Package layering holds the test that keeps the rooms of ARCHITECTURE.md
// apart: the storage engine imports nothing of the domain, the call domain
// no storage, the leaves (model/, phone/, config/, auth/, clock/, ...)
// nothing of the module, and only db/ touches bbolt. It has no code of its
// own.
package layering
