package auth

import (
	"crypto/sha256"
	"fmt"
)

// Role is what a credential may do. Each route needs one role; RoleAdmin
// may use every route, the others only their own.
type Role uint8

const (
	// RoleNone is no role: nothing is allowed.
	RoleNone Role = iota
	// RolePBX may use the telephony routes and set agents' presence.
	RolePBX
	// RoleAdmin may use everything: the /edge/v1 routes, backup, dead
	// letters, and the routes of the other roles.
	RoleAdmin
	// RoleMetrics may only scrape /metrics.
	RoleMetrics
	// RoleViewer may only read the status page's data.
	RoleViewer
)

var roleNames = [...]string{RoleNone: "none", RolePBX: "pbx", RoleAdmin: "admin", RoleMetrics: "metrics", RoleViewer: "viewer"}

// String is the role's name as written in the config and in JWT claims.
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// ParseRole reads a role name ("pbx", "admin", "metrics", "viewer").
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if r != int(RoleNone) && n == s {
			return Role(r), nil
		}
	}
	return RoleNone, fmt.Errorf("unknown role %q, want pbx, admin, metrics or viewer", s)
}

// Allows reports whether a credential with role r may use a route that
// needs role need.
func (r Role) Allows(need Role) bool {
	return r != RoleNone && (r == need || r == RoleAdmin)
}

// Token is a static API token and the role it grants.
type Token struct {
	Secret string
	Role   Role
}

// Digest is the SHA-256 of a static token and the role it grants: what the
// edge keeps of the tokens it generates, so the database, its log files
// and its backups never hold one in clear.
type Digest struct {
	Sum  [sha256.Size]byte
	Role Role
}

// DigestOf hashes a token the way the Authenticator does.
func DigestOf(secret string, r Role) Digest {
	return Digest{Sum: sha256.Sum256([]byte(secret)), Role: r}
}
